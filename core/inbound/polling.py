"""Reading the whole inbox: often while some live worker cannot signal this one, otherwise
rarely, as a safety net; and purging finished events past their retention."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from core.errors import StorageError
from core.ports import Inbox, InboxSignals

log = logging.getLogger(__name__)

PURGE_SECONDS = 3600.0  # how often finished events past their retention are deleted
SAFETY_POLL_SECONDS = 30.0  # how often the inbox is read when every worker can signal


class InboxPolling:
    def __init__(
        self,
        *,
        inbox: Inbox,
        signals: InboxSignals,
        poll: Callable[[], Awaitable[int]],
        interval: float,
        safety_interval: float,
        retention: timedelta,
    ) -> None:
        self._inbox = inbox
        self._signals = signals
        self._poll = poll
        self._interval = interval
        self._safety_interval = max(interval, safety_interval)
        self._retention = retention

    async def poll_quietly(self) -> None:
        """Read the inbox once; a failure is one line (the next poll tries again)."""
        try:
            await self._poll()
        except StorageError as exc:
            log.warning("inbox poll failed: %s", exc)

    async def run(self) -> None:
        """Poll until cancelled, and purge once an hour."""
        loop = asyncio.get_running_loop()
        purged = loop.time()
        while True:
            fast = not self._signals.complete()
            await asyncio.sleep(self._interval if fast else self._safety_interval)
            await self.poll_quietly()
            if loop.time() - purged >= PURGE_SECONDS:
                purged = loop.time()
                try:
                    await self._inbox.purge(self._retention)
                except StorageError as exc:
                    log.warning("inbox purge failed: %s", exc)
