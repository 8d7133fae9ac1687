"""Background work that is named, tracked and ended on shutdown, and whose crash is logged
with its context rather than lost: the one tracker for the dispatcher's pollers, uploads
under way and the platform adapters' handlers.

``stopping`` resolves when shutdown begins: long-running watchers (a "working" indicator
waiting for a turn) wait on it to end at once, while short work gets the grace period.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

log = logging.getLogger(__name__)


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping: asyncio.Future[None] | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def stopping(self) -> asyncio.Future[None]:
        """Resolves when ``aclose`` starts."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_future()
        return self._stopping

    def spawn(
        self,
        coro: Coroutine[Any, Any, Any],
        *,
        name: str,
        context: Mapping[str, object] | None = None,
    ) -> asyncio.Task[Any] | None:
        """Run ``coro`` in the background; a crash is logged with ``context`` (agent key,
        event id). After ``aclose`` nothing new starts (None, logged)."""
        if self._closed:
            coro.close()
            log.warning("not starting %s: shutting down", name, extra=dict(context or {}))
            return None
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        extra = dict(context or {})
        task.add_done_callback(lambda done: self._finished(done, extra))
        return task

    async def join(self) -> None:
        """Wait until everything started so far (and whatever it started) has finished."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def aclose(self, grace: float = 0.0) -> None:
        """Refuse new work, resolve ``stopping``, let running work finish for up to
        ``grace`` seconds, then cancel the rest and wait for it."""
        self._closed = True
        if not self.stopping.done():
            self.stopping.set_result(None)
        pending = set(self._tasks)
        if pending and grace > 0:
            _, pending = await asyncio.wait(pending, timeout=grace)
            for task in pending:
                log.warning("cancelled unfinished work: %s", task.get_name())
        # A cancellation can be lost inside a driver call (PyMongo's async cursors): ask
        # again until every task has really ended.
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.5)

    def _finished(self, task: asyncio.Task[Any], extra: dict[str, object]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("background task %s crashed", task.get_name(), exc_info=exc, extra=extra)
