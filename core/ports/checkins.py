"""Check-ins: where they are kept, and the trigger arithmetic."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from core.checkins.values import Checkin, Claim, Schedule, Settlement


class Triggers(Protocol):
    """Trigger arithmetic (cron, intervals, dates, in a time zone, across DST)."""

    def validate(self, schedule: Schedule, timezone: str) -> None:
        """Raise ``ValueError`` with a clear message if the schedule cannot work."""
        ...

    def next_fire(self, schedule: Schedule, timezone: str, after: datetime) -> datetime | None:
        """The first time strictly after ``after`` (aware), or None if there is none."""
        ...


class CheckinStore(Protocol):
    async def add(self, checkin: Checkin) -> bool:
        """Create it; False (and nothing written) if a check-in with its id exists."""
        ...

    async def active(self, agent_key: str) -> list[Checkin]:
        """The agent's active check-ins, soonest first."""
        ...

    async def cancel(self, agent_key: str, checkin_id: str) -> bool: ...

    async def claim_due(
        self, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> list[Claim]:
        """Atomically claim up to ``limit`` active check-ins due at ``now`` that nobody else
        holds (or whose holder's lease ran out)."""
        ...

    async def settle(self, settlements: Sequence[Settlement]) -> None:
        """Write back what happened; ignored for claims no longer held."""
        ...

    async def next_due(self, now: datetime) -> datetime | None:
        """The earliest due time of an active check-in that nobody holds a claim on at
        ``now`` (it may already have passed); None if there is none."""
        ...

    async def record_tokens(self, checkin_id: str, tokens: int, skipped: bool) -> None: ...

    async def erase(self, agent_key: str) -> None: ...
