"""The agent directory: list agents with filters, and everything about one.

An agent's key names its platform, scope and ids (``telegram:user:12345``,
``slack:channel:T01:C02``, ``console:alice``), so platform, scope and a person's own agent
are filtered on the key before any state is read; the person's blocks in group agents
(``human:<id>``) and the last-active filter read the state. Listings are in key order (keys
never change), so cursors never overlap or skip.

The ``paused`` filter reads the state too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.agent_key import AgentKey, key_part
from core.context.memory import MemoryBlock
from core.operator.errors import NotFoundError
from core.operator.paging import Listing, check_limit, decode, encode
from core.operator.ports import AgentDirectoryStore
from core.ports import AgentStore, ArchivalStore
from core.records import AgentState

KIND = "agents"
MAX_SLICE = 5000  # agents read at once while a selective filter fills a page


@dataclass(frozen=True, slots=True)
class AgentFilter:
    platform: str | None = None
    scope: str | None = None
    person: str | None = None  # a person's platform id (Slack: TEAM:USER)
    active_since: datetime | None = None
    active_before: datetime | None = None
    paused: bool | None = None  # True: paused agents only; False: running ones only


@dataclass(frozen=True, slots=True)
class AgentSummary:
    key: str
    platform: str
    scope: str
    created_at: datetime
    last_active_at: datetime  # the agent's last stored step (a turn, a check-in)
    last_user_message_at: datetime | None
    tokens_today: int
    daily_token_budget: int | None  # in force: the agent's own, else the operator's global
    paused: bool = False  # by an operator: messages are recorded, the model is not called


@dataclass(frozen=True, slots=True)
class AgentDetail:
    summary: AgentSummary
    budget_override: int | None
    timezone: str
    tokens_total: int
    calls_total: int
    messages: int
    passages: int
    blocks: tuple[MemoryBlock, ...]
    note: str
    recursive_summary: str
    summary_upto_seq: int


def _prefix(query: AgentFilter) -> str:
    """The keys a filter can match all start with this (a platform's, or its scope's)."""
    if query.platform is None:
        return ""
    if query.scope in ("channel", "thread"):
        return f"{query.platform}:{query.scope}:"
    return f"{query.platform}:"


class AgentDirectory:
    def __init__(
        self,
        agents: AgentStore,
        archival: ArchivalStore,
        store: AgentDirectoryStore,
        *,
        global_budget: int | None,
    ) -> None:
        self.agents = agents
        self.store = store
        self.archival = archival
        self.global_budget = global_budget

    async def page(
        self, query: AgentFilter, *, cursor: str | None, limit: int, today: str
    ) -> Listing[AgentSummary]:
        after = decode(KIND, cursor)
        check_limit(limit)
        start = str(after[0]) if after else None
        prefix = _prefix(query)
        found: list[AgentSummary] = []
        size = limit + 1
        while len(found) <= limit:
            # a slice of keys at a time, filtered on the key, then their states at once;
            # slices grow while a filter leaves pages short
            keys = await self.store.keys_after(start, size, prefix)
            wanted = [key for key in keys if self._key_matches(key, query)]
            for state in await self.store.states(wanted):
                if self._state_matches(state, query):
                    found.append(self.summary(state, today))
            if len(keys) < size:
                break
            start, size = keys[-1], min(size * 4, MAX_SLICE)
        shown = tuple(found[:limit])
        more = len(found) > limit
        return Listing(shown, encode(KIND, (shown[-1].key,)) if more and shown else None)

    async def get(self, key: str, today: str) -> AgentDetail:
        state = await self.agents.load(key)
        if state is None:
            raise NotFoundError(f"there is no agent {key!r}")
        return AgentDetail(
            summary=self.summary(state, today),
            budget_override=state.daily_token_budget,
            timezone=state.timezone,
            tokens_total=state.usage_total.total_tokens,
            calls_total=state.usage_total.calls,
            messages=state.last_seq,  # messages are numbered 1..last_seq, every one kept
            passages=await self.archival.count(key),
            blocks=state.memory.blocks,
            note=state.memory.note,
            recursive_summary=state.summary,
            summary_upto_seq=state.summary_upto_seq,
        )

    async def state(self, key: str) -> AgentState:
        state = await self.agents.load(key)
        if state is None:
            raise NotFoundError(f"there is no agent {key!r}")
        return state

    def summary(self, state: AgentState, today: str) -> AgentSummary:
        key = AgentKey.parse(state.agent_key)
        return AgentSummary(
            key=state.agent_key,
            platform=key.platform,
            scope=key.scope,
            created_at=state.created_at,
            last_active_at=state.updated_at,
            last_user_message_at=state.last_user_message_at,
            tokens_today=state.usage_today.total_tokens if state.usage_day == today else 0,
            daily_token_budget=state.daily_token_budget or self.global_budget,
            paused=state.paused_at is not None,
        )

    @staticmethod
    def _key_matches(text: str, query: AgentFilter) -> bool:
        key = AgentKey.parse(text)
        if query.platform is not None and key.platform != query.platform:
            return False
        if query.scope is not None and key.scope != query.scope:
            return False
        if query.person is not None and not key.is_group:
            return key.own_person == key_part(query.person)
        return True

    @staticmethod
    def _state_matches(state: AgentState, query: AgentFilter) -> bool:
        if query.person is not None and AgentKey.parse(state.agent_key).is_group:
            label = f"human:{query.person}"
            if not any(block.label == label for block in state.memory.blocks):
                return False
        if query.active_since is not None and state.updated_at < query.active_since:
            return False
        if query.paused is not None and (state.paused_at is not None) != query.paused:
            return False
        return query.active_before is None or state.updated_at < query.active_before
