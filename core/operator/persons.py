"""A person, by their platform id, across every agent that holds them: their own agents
(one-to-one) and the group agents where they own a ``human:<id>`` block.

Export gives their own agents whole (as ``/export`` does) and, from each group agent, their
block, its edit history and the messages they wrote there. Erase removes their own agents
(every tier, as ``/erase`` does) and, through each group agent's inbox, their block, its
edit history and the messages they wrote there (applied by the agent's worker between turns,
wherever it runs). The group agent's summary is not rewritten: what it says of them stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.context.edits import MemoryEdit
from core.context.memory import MemoryBlock
from core.events import ForgetBlock
from core.inbound.agent_data import AgentExport, logged_messages
from core.messages import Message
from core.operator.agent_data import OperatorAgentData
from core.operator.agents import AgentDirectory, AgentFilter, AgentSummary
from core.operator.audit import Audit
from core.operator.changes import ChangeRequests
from core.operator.errors import NotFoundError
from core.operator.keys import Caller
from core.operator.paging import MAX_LIMIT
from core.operator.ports import MemoryEditStore
from core.ports import AgentStore, Clock, RecallStore


@dataclass(frozen=True, slots=True)
class Holding:
    """An agent that holds the person: their own (``label`` None) or a group's block."""

    agent: AgentSummary
    label: str | None


@dataclass(frozen=True, slots=True)
class GroupPart:
    """What a group agent holds of the person."""

    agent_key: str
    block: MemoryBlock | None
    edits: tuple[MemoryEdit, ...]
    messages: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class PersonExport:
    platform: str
    user_id: str
    exported_at: datetime
    own: tuple[AgentExport, ...]
    groups: tuple[GroupPart, ...]


@dataclass(frozen=True, slots=True)
class PersonErased:
    agents: tuple[str, ...]  # their own, erased
    blocks: tuple[str, ...]  # group agents their block was removed from


class OperatorPersons:
    def __init__(
        self,
        *,
        directory: AgentDirectory,
        data: OperatorAgentData,
        agents: AgentStore,
        recall: RecallStore,
        edits: MemoryEditStore,
        changes: ChangeRequests,
        clock: Clock,
        audit: Audit,
    ) -> None:
        self.directory = directory
        self.data = data
        self.agents = agents
        self.recall = recall
        self.edits = edits
        self.changes = changes
        self.clock = clock
        self.audit = audit

    async def holdings(self, platform: str, user_id: str, today: str) -> list[Holding]:
        """Every agent holding the person, in key order; NotFoundError if none does."""
        query = AgentFilter(platform=platform, person=user_id)
        found: list[Holding] = []
        cursor: str | None = None
        while True:
            page = await self.directory.page(query, cursor=cursor, limit=MAX_LIMIT, today=today)
            for agent in page.items:
                label = None if agent.scope == "user" else f"human:{user_id}"
                found.append(Holding(agent, label))
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        if not found:
            raise NotFoundError(f"no agent holds the {platform} person {user_id!r}")
        return found

    async def export(self, platform: str, user_id: str, today: str) -> PersonExport:
        own: list[AgentExport] = []
        groups: list[GroupPart] = []
        for holding in await self.holdings(platform, user_id, today):
            key = holding.agent.key
            if holding.label is None:
                own.append(await self.data.export(key))
                continue
            groups.append(await self._group_part(key, holding.label, user_id))
        return PersonExport(platform, user_id, self.clock.now(), tuple(own), tuple(groups))

    async def _group_part(self, agent_key: str, label: str, user_id: str) -> GroupPart:
        state = await self.agents.load(agent_key)
        if state is None:  # erased meanwhile
            return GroupPart(agent_key, None, (), ())
        block = next((b for b in state.memory.blocks if b.label == label), None)
        edits = [e for e in await self.edits.all(agent_key) if e.label == label]
        said = [m for m in await logged_messages(state, self.recall) if m.author_id == user_id]
        return GroupPart(agent_key, block, tuple(edits), tuple(said))

    async def erase(self, caller: Caller, platform: str, user_id: str, today: str) -> PersonErased:
        """Their own agents erased; their block (and its history) and their messages removed
        from each group agent through its inbox. Raises as the underlying changes do (a 202
        for a group agent whose worker is busy: asking again finishes the rest)."""
        caller.require_admin()
        erased: list[str] = []
        blocks: list[str] = []
        for holding in await self.holdings(platform, user_id, today):
            key = holding.agent.key
            if holding.label is None:
                await self.data.erase(caller, key)
                erased.append(key)
            else:
                forget = ForgetBlock(label=holding.label, author_id=user_id)
                await self.changes.request(caller, key, forget)
                blocks.append(key)
        await self.audit.record(
            caller,
            "persons.erase",
            target=f"{platform}:{user_id}",
            summary=f"{len(erased)} own agents erased, removed from {len(blocks)} group agents",
        )
        return PersonErased(tuple(erased), tuple(blocks))
