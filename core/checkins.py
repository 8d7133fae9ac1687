"""Scheduled check-ins: the agent reaches out on its own at a time, an interval or a cron
schedule, always in the user's time zone, outside their quiet hours.

The store (MongoDB in production) is the source of truth. Each worker regularly claims the
check-ins that are due (atomically, with a lease), turns each into a ``TimerFired`` event
whose id is the check-in and its due time (so the inbox stores it once, whichever worker
fires it, however often), and writes the next due time. A claim whose worker died expires
and is taken by another. A check-in found long overdue (the service was down) fires once,
or is dropped if it is older than the grace period; either way the schedule resumes from now.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from core.clock import stamp, zone
from core.errors import ConfigurationError, ToolError
from core.events import Address, Event, TimerFired
from core.ports import Clock

log = logging.getLogger(__name__)

Creator = Literal["operator", "user", "agent"]
_INTERVAL = re.compile(r"^\s*(\d+)\s*(m|min|h|d|w)\s*$", re.I)
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


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


@dataclass(frozen=True)
class CheckinPolicy:
    grace: timedelta = timedelta(hours=1)  # older than this when found: dropped, not fired
    lease: timedelta = timedelta(seconds=30)
    batch: int = 500
    quiet_hours: QuietHours | None = None
    max_per_agent: int = 50


class CheckinService:
    def __init__(
        self,
        *,
        store: CheckinStore,
        triggers: Triggers,
        clock: Clock,
        submit: Callable[[Sequence[Event]], Awaitable[object]],
        owner: str | None = None,
        policy: CheckinPolicy = CheckinPolicy(),
    ) -> None:
        self.store = store
        self.triggers = triggers
        self.clock = clock
        self.submit = submit
        self.owner = owner or f"worker-{uuid.uuid4().hex[:8]}"
        self.policy = policy
        self._scheduled: asyncio.Event | None = None  # set by ``keep_firing``

    async def schedule(
        self,
        agent_key: str,
        note: str,
        schedule: Schedule,
        *,
        timezone: str,
        created_by: Creator,
        address: Address | None = None,
        checkin_id: str | None = None,
    ) -> Checkin:
        note = " ".join(note.split())
        if not note:
            raise ToolError("The note is empty: say what the check-in is for.")
        try:
            zone(timezone)
            self.triggers.validate(schedule, timezone)
        except (ValueError, ConfigurationError) as exc:
            raise ToolError(str(exc)) from exc
        existing = await self.store.active(agent_key)
        if checkin_id is None and len(existing) >= self.policy.max_per_agent:
            raise ToolError(f"There are already {len(existing)} check-ins; cancel some first.")
        now = self.clock.now()
        draft = Checkin(
            id=checkin_id or uuid.uuid4().hex[:6],
            agent_key=agent_key,
            note=note,
            schedule=schedule,
            timezone=timezone,
            created_by=created_by,
            created_at=now,
            next_due=None,
            quiet_hours=self.policy.quiet_hours,
            address=address,
        )
        if address is not None:
            draft = draft.model_copy(update={"address": address.unquoted()})  # quotes nothing
        first = self._next(draft, now)
        if first is None:
            raise ToolError("That time has already passed; choose a time in the future.")
        checkin = draft.model_copy(update={"next_due": first})
        # Ids are short, to be typed in /checkins cancel: one already taken (by any agent)
        # is drawn again, never overwritten. A given id (the operator's default) is created
        # once.
        for _ in range(8):
            if await self.store.add(checkin) or checkin_id is not None:
                if self._scheduled is not None:
                    self._scheduled.set()  # it may be due before the next wake-up
                return checkin
            checkin = checkin.model_copy(update={"id": uuid.uuid4().hex[:6]})
        raise ToolError("Could not find a free id for the check-in; try again.")

    async def active(self, agent_key: str) -> list[Checkin]:
        return await self.store.active(agent_key)

    async def keep_firing(self, longest_wait: float) -> None:
        """Until cancelled: fire what is due, then wait until the next check-in the store
        knows of is due, at most ``longest_wait`` seconds (the bound within which a
        check-in scheduled by another process, or a claim left by a dead one, is found), or
        until one is scheduled here."""
        self._scheduled = asyncio.Event()
        while True:
            self._scheduled.clear()
            upcoming: datetime | None = None
            try:
                fired = await self.fire_due()
                if fired:
                    log.info("%d check-ins fired", fired)
                upcoming = await self.store.next_due(self.clock.now())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("firing due check-ins failed; trying again shortly")
            wait = longest_wait
            if upcoming is not None:
                until = (upcoming - self.clock.now()).total_seconds()
                wait = min(longest_wait, max(0.0, until) + 0.01)
            # asyncio.wait, not a timeout by cancellation: a cancel that a driver call lost
            # earlier must not turn the next timeout into an endless loop (Python 3.11).
            woken = asyncio.ensure_future(self._scheduled.wait())
            try:
                await asyncio.wait({woken}, timeout=wait)
            finally:
                woken.cancel()

    async def cancel(self, agent_key: str, checkin_id: str) -> bool:
        return await self.store.cancel(agent_key, checkin_id.strip())

    async def fire_due(self) -> int:
        """Claim what is due, hand it to the agents' queues, schedule the next times.
        Returns how many fired."""
        now = self.clock.now()
        claims = await self.store.claim_due(now, self.owner, self.policy.lease, self.policy.batch)
        if claims:
            log.info("claimed %d due check-ins", len(claims))
        settlements = []
        events: list[Event] = []
        for claim in claims:
            checkin = claim.checkin
            due = checkin.next_due or now
            fire = now - due <= self.policy.grace
            if fire:
                # The id names the occurrence, so a re-claimed check-in (its claimer died
                # after firing) is recognised by the inbox and never turned twice.
                events.append(
                    TimerFired(
                        event_id=f"checkin:{checkin.id}:{int(due.timestamp())}",
                        agent_key=checkin.agent_key,
                        occurred_at=due,
                        checkin_id=checkin.id,
                        note=checkin.note,
                        reply_to=checkin.address,
                    )
                )
            # Resume from now: a long outage fires once, never once per missed period.
            settlements.append(
                Settlement(
                    checkin.id,
                    claim.token,
                    self._next(checkin, max(now, due)),
                    now if fire else None,
                )
            )
        if events:
            await self.submit(events)  # the whole batch in one write, in due order
        if settlements:
            await self.store.settle(settlements)
        return len(events)

    def _next(self, checkin: Checkin, after: datetime) -> datetime | None:
        upcoming = self.triggers.next_fire(checkin.schedule, checkin.timezone, after)
        if upcoming is not None and checkin.quiet_hours is not None:
            upcoming = checkin.quiet_hours.defer(upcoming, checkin.timezone)
        return upcoming


def parse_when(
    *, at: str | None, every: str | None, cron: str | None, timezone: str, now: datetime
) -> Schedule:
    """A schedule from the words a model or a user gives: exactly one of the three."""
    given = [name for name, value in (("at", at), ("every", every), ("cron", cron)) if value]
    if len(given) != 1:
        raise ToolError("Give exactly one of: at (YYYY-MM-DD HH:MM), every (like 1d), cron.")
    if at:
        try:
            local = datetime.strptime(at.strip(), "%Y-%m-%d %H:%M")
        except ValueError as exc:
            raise ToolError(f"at must look like 2026-12-01 09:30, not {at!r}.") from exc
        return Schedule(kind="once", at=local.replace(tzinfo=zone(timezone)))
    if every:
        match = _INTERVAL.match(every)
        if not match:
            raise ToolError(f"every must look like 30m, 12h, 1d or 1w, not {every!r}.")
        seconds = int(match.group(1)) * _UNITS[match.group(2).lower()]
        if seconds < 300:
            raise ToolError("The shortest interval is 5 minutes.")
        return Schedule(kind="interval", every_seconds=seconds, start=now)
    assert cron is not None
    return Schedule(kind="cron", cron=" ".join(cron.split()))


def _human_seconds(seconds: int) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
