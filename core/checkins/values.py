"""Check-ins as values: a schedule, quiet hours, the check-in itself, a claim on one that
is due, and what happened to it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from core.clock import stamp, zone
from core.events import Address

Creator = Literal["operator", "user", "agent"]


class Schedule(BaseModel):
    """Exactly one of: ``at`` (once), ``every_seconds`` (repeating from ``start``), ``cron``."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["once", "interval", "cron"]
    at: datetime | None = None
    every_seconds: int | None = None
    start: datetime | None = None
    cron: str | None = None

    def describe(self) -> str:
        if self.kind == "once":
            return "once"
        if self.kind == "interval":
            return f"every {_human_seconds(self.every_seconds or 0)}"
        return f"cron {self.cron}"


class QuietHours(BaseModel):
    """A daily local window (it may wrap midnight) in which check-ins wait for its end."""

    model_config = ConfigDict(frozen=True)

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
        if not match:
            raise ValueError(f"quiet hours look like 22:00-08:00, not {text!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        return cls(start=time(h1, m1), end=time(h2, m2))

    def defer(self, moment: datetime, tz_name: str) -> datetime:
        """``moment`` if outside the window, else the window's end (same zone rules)."""
        tz = zone(tz_name)
        local = moment.astimezone(tz)
        t = local.time()
        if self.start <= self.end:
            inside = self.start <= t < self.end
            end_day = local.date()
        else:  # wraps midnight, e.g. 22:00-08:00
            inside = t >= self.start or t < self.end
            end_day = local.date() + timedelta(days=1) if t >= self.start else local.date()
        if not inside:
            return moment
        end = datetime.combine(end_day, self.end, tz)
        return end.astimezone(moment.tzinfo)


class Checkin(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    agent_key: str
    note: str
    schedule: Schedule
    timezone: str
    created_by: Creator
    created_at: datetime
    next_due: datetime | None  # None: done (a one-off that fired) or cancelled
    quiet_hours: QuietHours | None = None
    address: Address | None = None
    last_fired: datetime | None = None
    fired: int = 0
    skipped: int = 0
    tokens: int = 0

    def line(self) -> str:
        tz = zone(self.timezone)
        when = stamp(self.next_due, tz) if self.next_due else "done"
        return f"{self.id}: {self.note} ({self.schedule.describe()}; next {when})"


@dataclass(frozen=True)
class Claim:
    checkin: Checkin
    token: str  # proves this worker still holds the claim when it writes back


@dataclass(frozen=True)
class Settlement:
    """What happened to a claimed check-in: fired (or dropped as too late), and when next."""

    checkin_id: str
    token: str
    next_due: datetime | None
    fired_at: datetime | None


@dataclass(frozen=True)
class CheckinPolicy:
    grace: timedelta = timedelta(hours=1)  # older than this when found: dropped, not fired
    lease: timedelta = timedelta(seconds=30)
    batch: int = 500
    quiet_hours: QuietHours | None = None
    max_per_agent: int = 50
    # The operator's check-in for every one-to-one agent, on this cron schedule (none: off).
    default_cron: str | None = None
    default_note: str = ""
    # Platforms nothing can be pushed to (the OpenAI-compatible endpoint's: a person there
    # only reads the reply to their own request): no default check-in for agents there.
    unreachable_platforms: frozenset[str] = frozenset()


def _human_seconds(seconds: int) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
