"""Export and erase of one agent for the operator: every tier in one document, or gone.

The same document and the same cascade as the person's own ``/export`` and ``/erase``
(``core.inbound.agent_data``), with what only the operator layer keeps added: the sources of
the archival passages and the upload jobs. Written to the stores directly, as ``/erase``
does: an erase is not a change to the agent's state but its end; the worker that has the
agent in memory forgets it (this process at once; another replica's save of a turn under
way fails on the missing state and it reloads, finding nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.inbound.agent_data import AgentExport, erase_agent, export_agent
from core.operator.audit import Audit
from core.operator.errors import NotFoundError
from core.operator.keys import Caller
from core.operator.ports import MemoryEditStore, UploadJobStore
from core.ports import AgentStore, ArchivalStore, CheckinStore, Clock, Inbox, RecallStore


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erase removed."""

    messages: int
    passages: int
    checkins: int
    upload_jobs: int
    memory_edits: int


class OperatorAgentData:
    def __init__(
        self,
        *,
        agents: AgentStore,
        recall: RecallStore,
        archival: ArchivalStore,
        inbox: Inbox,
        checkins: CheckinStore | None,
        edits: MemoryEditStore,
        jobs: UploadJobStore,
        clock: Clock,
        audit: Audit,
        forget: Callable[[str], None] = lambda agent_key: None,
    ) -> None:
        self.agents = agents
        self.recall = recall
        self.archival = archival
        self.inbox = inbox
        self.checkins = checkins
        self.edits = edits
        self.jobs = jobs
        self.clock = clock
        self.audit = audit
        self.forget = forget

    async def _exists(self, agent_key: str) -> None:
        if await self.agents.load(agent_key) is None:
            raise NotFoundError(f"there is no agent {agent_key!r}")

    async def export(self, agent_key: str) -> AgentExport:
        await self._exists(agent_key)
        data = await export_agent(
            agent_key,
            agents=self.agents,
            recall=self.recall,
            archival=self.archival,
            inbox=self.inbox,
            now=self.clock.now(),
            checkins=self.checkins,
            edits=self.edits,
        )
        extra = {
            "sources": await self.archival.sources(agent_key),
            "upload_jobs": await self.jobs.for_agent(agent_key),
        }
        return data.model_copy(update=extra)

    async def erase(self, caller: Caller, agent_key: str) -> Erased:
        """Every tier of the agent, its check-ins, upload jobs, queued events and edit
        history; the state last, so an interrupted erase can be asked for again."""
        caller.require_admin()
        await self._exists(agent_key)
        erased = Erased(
            messages=await self.recall.count(agent_key),
            passages=await self.archival.count(agent_key),
            checkins=len(await self.checkins.active(agent_key)) if self.checkins else 0,
            upload_jobs=await self.jobs.erase(agent_key),
            memory_edits=len(await self.edits.all(agent_key)),
        )
        await erase_agent(
            agent_key,
            agents=self.agents,
            recall=self.recall,
            archival=self.archival,
            inbox=self.inbox,
            checkins=self.checkins,
            edits=self.edits,
        )
        self.forget(agent_key)
        await self.audit.record(
            caller,
            "agents.erase",
            agent=agent_key,
            summary=f"{erased.messages} messages, {erased.passages} passages",
        )
        return erased
