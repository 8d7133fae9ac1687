"""The timer: an APScheduler job that runs the due check-ins every few seconds.

MongoDB holds the schedule; this only wakes the process. One job, never overlapping itself
(``max_instances=1``), missed runs coalesced into one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)


class CheckinWaker:
    def __init__(self, fire_due: Callable[[], Awaitable[int]], every_seconds: float) -> None:
        self._fire_due = fire_due
        self._scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1})
        self._scheduler.add_job(
            self._tick, "interval", seconds=every_seconds, id="checkins", name="due check-ins"
        )

    async def _tick(self) -> None:
        try:
            fired = await self._fire_due()
            if fired:
                log.info("%d check-ins fired", fired)
        except Exception:
            log.exception("firing due check-ins failed; retrying on the next tick")

    def start(self) -> None:
        self._scheduler.start()

    async def aclose(self) -> None:
        self._scheduler.shutdown(wait=False)
