"""Rebuilding a held search index aside, one agent at a time, while searches go on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Rebuilds:
    def __init__(self, what: str) -> None:
        self.what = what
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def __contains__(self, agent_key: object) -> bool:
        return agent_key in self._tasks

    def start(
        self,
        agent_key: str,
        build: Callable[[], Coroutine[Any, Any, None]],
        failed: Callable[[], None],
    ) -> None:
        """Run ``build`` in the background (``failed`` after an error: the old index keeps
        serving and the next search may try again)."""

        async def run() -> None:
            try:
                await build()
            except Exception:
                log.warning("rebuilding the %s of %s failed", self.what, agent_key, exc_info=True)
                failed()
            finally:
                self._tasks.pop(agent_key, None)

        self._tasks[agent_key] = asyncio.create_task(run(), name=f"{self.what} {agent_key}")

    def cancel(self, agent_key: str) -> None:
        task = self._tasks.pop(agent_key, None)
        if task is not None:
            task.cancel()

    async def wait(self) -> None:
        """Wait for the rebuilds under way."""
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
