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
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from core.agent_key import AgentKey
from core.checkins.values import Checkin, CheckinPolicy, Creator, Schedule, Settlement
from core.clock import zone
from core.errors import ConfigurationError, ToolError
from core.events import Address, Event, TimerFired
from core.ids import RandomIds
from core.ports.checkins import CheckinStore, Triggers
from core.ports.sources import Clock, IdSource
from core.records import AgentState

log = logging.getLogger(__name__)


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
        ids: IdSource | None = None,
    ) -> None:
        self.store = store
        self.triggers = triggers
        self.clock = clock
        self.submit = submit
        self.ids = ids or RandomIds()
        self.owner = owner or f"worker-{self.ids.new_id()[:8]}"
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
            id=checkin_id or self._short_id(),
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
            checkin = checkin.model_copy(update={"id": self._short_id()})
        raise ToolError("Could not find a free id for the check-in; try again.")

    async def add_default(self, state: AgentState) -> None:
        """The operator's check-in (``policy.default_cron``) for a one-to-one agent, never a
        group's, made when the agent first has a conversation to write to, and addressed
        to it. Made once per agent: its id is derived from the agent's key. None for an
        agent on a platform nothing can be pushed to (it would spend model calls on words
        nobody reads)."""
        cron = self.policy.default_cron
        if not cron or AgentKey.parse(state.agent_key).is_group:
            return
        if state.home is not None and state.home.platform in self.policy.unreachable_platforms:
            return
        digest = hashlib.sha1(state.agent_key.encode()).hexdigest()[:12]
        await self.schedule(
            state.agent_key,
            self.policy.default_note,
            Schedule(kind="cron", cron=cron),
            timezone=state.timezone,
            created_by="operator",
            address=state.home,
            checkin_id=f"default-{digest}",
        )

    async def record_turn(self, checkin_id: str, tokens: int, skipped: bool) -> None:
        """What the agent's turn for a check-in cost (or that it was skipped), for the
        operator."""
        await self.store.record_tokens(checkin_id, tokens, skipped)

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

    def _short_id(self) -> str:
        """Short, to be typed in /checkins cancel."""
        return self.ids.new_id()[:6]

    def _next(self, checkin: Checkin, after: datetime) -> datetime | None:
        upcoming = self.triggers.next_fire(checkin.schedule, checkin.timezone, after)
        if upcoming is not None and checkin.quiet_hours is not None:
            upcoming = checkin.quiet_hours.defer(upcoming, checkin.timezone)
        return upcoming
