"""The adapter's background work, named and tracked so ``stop()`` can end all of it.

Two kinds: *intake* tasks take one event or command to the gateway and post what it says
(short; on shutdown they get a grace period, since an event not yet handed to the gateway
would be lost after Slack saw its ack), and *watchers* keep the "working" reaction up while
an agent turn runs (long; on shutdown they are told to stop at once and take the reaction
down, as the turn may finish elsewhere).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

log = logging.getLogger(__name__)


class TaskTracker:
    def __init__(self) -> None:
        self._intake: set[asyncio.Task[None]] = set()
        self._watchers: set[asyncio.Task[None]] = set()
        self._stopping: asyncio.Future[None] | None = None
        self._closed = False

    @property
    def stopping(self) -> asyncio.Future[None]:
        """Resolves when the adapter starts shutting down (watchers wait on it)."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_future()
        return self._stopping

    def spawn(
        self, work: Coroutine[Any, Any, None], *, name: str, context: Mapping[str, str]
    ) -> None:
        """Run intake work in the background; its failure is logged with ``context``."""
        self._track(self._intake, work, name, context)

    def watch(
        self, work: Coroutine[Any, Any, None], *, name: str, context: Mapping[str, str]
    ) -> None:
        """Run a watcher in the background (see the module docstring)."""
        self._track(self._watchers, work, name, context)

    async def join(self) -> None:
        """Wait until all work started so far (and any it started) has finished."""
        while pending := self._intake | self._watchers:
            await asyncio.wait(pending)

    async def close(self, grace: float) -> None:
        """Signal watchers to stop, give everything ``grace`` seconds, cancel the rest.
        Work offered after this is refused (logged)."""
        self._closed = True
        if not self.stopping.done():
            self.stopping.set_result(None)
        pending = self._intake | self._watchers
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                log.warning("cancelled unfinished Slack work: %s", task.get_name())
                task.cancel()
            if late:
                await asyncio.wait(late)

    def _track(
        self,
        tasks: set[asyncio.Task[None]],
        work: Coroutine[Any, Any, None],
        name: str,
        context: Mapping[str, str],
    ) -> None:
        if self._closed:
            work.close()
            log.warning("Slack adapter stopped; dropped %s", name, extra=dict(context))
            return
        task = asyncio.get_running_loop().create_task(_logged(work, name, context), name=name)
        tasks.add(task)
        task.add_done_callback(tasks.discard)


async def _logged(work: Coroutine[Any, Any, None], name: str, context: Mapping[str, str]) -> None:
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("Slack %s failed", name, extra=dict(context))
