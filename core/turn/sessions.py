"""Agents' main contexts between turns: loaded (or created) on first use, kept in memory,
bounded in number, dropped whenever they may be stale."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from core.agent_key import AgentKey
from core.context.layout import PromptLayout, PromptTexts
from core.context.memory import MemoryBlock, WorkingContext
from core.errors import ConcurrentUpdateError
from core.ports import AgentStore, Clock, RecallStore
from core.records import AgentState
from core.turn.delivery import ReplyDelivery
from core.turn.session import AgentSession

GROUP_NOTE = (
    "This is a group conversation. Each person has their own block, human:<their id>, "
    'made when you first note something about them; "human" means whoever wrote the message '
    "you are answering."
)


class SessionCache:
    def __init__(
        self,
        *,
        agents: AgentStore,
        recall: RecallStore,
        layout: PromptLayout,
        prompts: PromptTexts,
        delivery: ReplyDelivery,
        clock: Clock,
        block_limit: int,
        timezone: str,
        capacity: int,
    ) -> None:
        self.agents = agents
        self.recall = recall
        self.layout = layout
        self.prompts = prompts
        self.delivery = delivery
        self.clock = clock
        self.block_limit = block_limit
        self.timezone = timezone
        self.capacity = capacity
        self._sessions: OrderedDict[str, AgentSession] = OrderedDict()
        self._in_use: set[str] = set()  # agents whose turn is under way: never evicted

    async def get(self, agent_key: str) -> AgentSession:
        """The agent's main context, loaded (or created) on first use and cached."""
        session = self._sessions.get(agent_key)
        if session is not None:
            self._sessions.move_to_end(agent_key)
            return session
        state = await self.agents.load(agent_key)
        if state is None:
            state = await self._create(agent_key)
        await self.recall.discard_after(agent_key, state.last_seq)
        fifo = await self.recall.range(agent_key, state.summary_upto_seq, state.last_seq)
        session = AgentSession(state, fifo, self.layout)
        session.outbox_unsent = await self.delivery.unsent(state)
        self._sessions[agent_key] = session
        while len(self._sessions) > self.capacity:
            oldest = next(iter(self._sessions))
            if oldest in self._in_use:
                break
            self.forget(oldest)
        return session

    def forget(self, agent_key: str) -> None:
        """Drop the cached context (after an error, or when another worker took the agent)."""
        self._sessions.pop(agent_key, None)

    @contextmanager
    def using(self, agent_key: str) -> Iterator[None]:
        """The agent's context is in use (a turn is under way): it stays cached."""
        self._in_use.add(agent_key)
        try:
            yield
        finally:
            self._in_use.discard(agent_key)

    async def _create(self, agent_key: str) -> AgentState:
        now = self.clock.now()
        limit = self.block_limit
        persona = MemoryBlock(label="persona", value=self.prompts.persona, limit=limit)
        if AgentKey.parse(agent_key).is_group:
            memory = WorkingContext(blocks=(persona,), note=GROUP_NOTE)
        else:
            human = MemoryBlock(label="human", value=self.prompts.human, limit=limit)
            memory = WorkingContext(blocks=(persona, human))
        state = AgentState(
            agent_key=agent_key,
            memory=memory,
            timezone=self.timezone,
            created_at=now,
            updated_at=now,
        )
        try:
            return await self.agents.save(state, None)
        except ConcurrentUpdateError:
            existing = await self.agents.load(agent_key)
            if existing is None:
                raise
            return existing
