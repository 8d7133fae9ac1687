"""The check-in timer: it wakes when the next check-in is due, not at a fixed poll."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from bots.components import checkin_triggers
from bots.storage import memory_storage
from core.checkins.service import CheckinService
from core.checkins.values import Schedule
from core.clock import SystemClock

HOUR = 3600.0  # the longest wait: far longer than the test may take


async def test_a_check_in_fires_when_due_however_long_the_longest_wait() -> None:
    fired: asyncio.Queue[list] = asyncio.Queue()
    clock = SystemClock()
    service = CheckinService(
        store=memory_storage().checkins,
        triggers=checkin_triggers(),
        clock=clock,
        submit=fired.put,
    )
    await service.schedule(
        "agent-1",
        "before the timer starts",
        Schedule(kind="once", at=clock.now() + timedelta(seconds=1)),
        timezone="UTC",
        created_by="user",
    )
    timer = asyncio.ensure_future(service.keep_firing(HOUR))
    try:
        (first,) = await asyncio.wait_for(fired.get(), 30)
        assert first.note == "before the timer starts"
        # the timer now sleeps (nothing is due): a check-in scheduled here wakes it
        await service.schedule(
            "agent-1",
            "scheduled while it sleeps",
            Schedule(kind="once", at=clock.now() + timedelta(seconds=1)),
            timezone="UTC",
            created_by="agent",
        )
        (second,) = await asyncio.wait_for(fired.get(), 30)
        assert second.note == "scheduled while it sleeps"
    finally:
        timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer
