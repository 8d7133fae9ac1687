"""An agent's check-ins for the operator: list, create, cancel.

Written to the check-in store directly, not through the agent's inbox: a check-in is its own
document (created with one insert, cancelled with one conditional update), not part of the
agent's state, and every replica's scheduler reads the store (a new one is found within
``PAGEMIND_CHECKIN_POLL_SECONDS`` by the others, at once by this process), as with the
``/checkin`` command.
"""

from __future__ import annotations

from core.checkins.service import CheckinService
from core.checkins.values import Checkin
from core.checkins.when import parse_when
from core.errors import ToolError
from core.operator.audit import Audit
from core.operator.errors import ConflictError, InvalidRequestError, NotFoundError
from core.operator.keys import Caller
from core.operator.paging import Listing, SortKey, page_of
from core.ports import AgentStore, Clock

KIND = "checkins"
OFF = "check-ins are turned off here (PAGEMIND_CHECKINS=false)"


def _key(checkin: Checkin) -> SortKey:
    return (checkin.created_at.timestamp(), checkin.id)


class OperatorCheckins:
    def __init__(
        self,
        *,
        agents: AgentStore,
        service: CheckinService | None,
        clock: Clock,
        audit: Audit,
    ) -> None:
        self.agents = agents
        self.service = service
        self.clock = clock
        self.audit = audit

    def _on(self) -> CheckinService:
        if self.service is None:
            raise ConflictError(OFF)
        return self.service

    async def page(self, agent_key: str, *, cursor: str | None, limit: int) -> Listing[Checkin]:
        """The agent's active check-ins, in the order they were created."""
        if await self.agents.load(agent_key) is None:
            raise NotFoundError(f"there is no agent {agent_key!r}")
        active = await self.service.active(agent_key) if self.service is not None else []
        return page_of(KIND, active, _key, cursor, limit)

    async def create(
        self,
        caller: Caller,
        agent_key: str,
        note: str,
        *,
        at: str | None = None,
        every: str | None = None,
        cron: str | None = None,
    ) -> Checkin:
        """``at`` a local time (YYYY-MM-DD HH:MM), ``every`` an interval (30m, 1d) or on a
        ``cron`` schedule, in the agent's time zone, sent to its home conversation."""
        caller.require_admin()
        service = self._on()
        state = await self.agents.load(agent_key)
        if state is None:
            raise NotFoundError(f"there is no agent {agent_key!r}")
        if state.home is None:
            raise ConflictError(
                "the agent has no conversation to write to yet (nobody has written to it)"
            )
        try:
            schedule = parse_when(
                at=at, every=every, cron=cron, timezone=state.timezone, now=self.clock.now()
            )
            checkin = await service.schedule(
                agent_key,
                note,
                schedule,
                timezone=state.timezone,
                created_by="operator",
                address=state.home,
            )
        except ToolError as exc:
            given = next((n for n, v in (("at", at), ("every", every), ("cron", cron)) if v), None)
            field = "note" if "note" in str(exc) else given
            raise InvalidRequestError(str(exc), field=field) from exc
        await self.audit.record(
            caller,
            "checkins.create",
            agent=agent_key,
            target=checkin.id,
            summary=checkin.schedule.describe(),
        )
        return checkin

    async def cancel(self, caller: Caller, agent_key: str, checkin_id: str) -> None:
        caller.require_admin()
        service = self._on()
        if not await service.cancel(agent_key, checkin_id):
            raise NotFoundError(f"the agent has no active check-in {checkin_id!r}")
        await self.audit.record(caller, "checkins.cancel", agent=agent_key, target=checkin_id)
