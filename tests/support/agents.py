"""Build an agent runtime wired to in-memory stores and a scripted model."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count

from adapters.inmemory import InMemoryAgentStore, InMemoryArchivalStore, InMemoryRecallStore
from config.prompts import read
from core.checkins.service import CheckinService
from core.context.layout import PromptTexts
from core.context.tokens import TokenCounter
from core.events import Address, SendReply, UserMessageReceived
from core.ports import Embedder, Inbox
from core.tools.memgpt import register_memgpt_tools
from core.tools.registry import ToolRegistry
from core.turn.runtime import AgentRuntime
from core.turn.settings import AgentSettings
from tests.support.scripted import ScriptedModel


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 21, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class RecordingSink:
    def __init__(self) -> None:
        self.sent: list[SendReply] = []

    async def send(self, reply: SendReply) -> None:
        self.sent.append(reply)

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.sent]


def default_prompts() -> PromptTexts:
    return PromptTexts(
        system=read("system"),
        summarize=read("summarize"),
        persona=read("persona"),
        human=read("human"),
    )


def fresh_agents() -> InMemoryAgentStore:
    """An empty agent store, to wrap in a fake that fails on cue."""
    return InMemoryAgentStore()


@dataclass
class Harness:
    model: ScriptedModel
    settings: AgentSettings = field(default_factory=AgentSettings)
    embedder: Embedder | None = None
    tools: ToolRegistry | None = None
    clock: ManualClock = field(default_factory=ManualClock)
    sink: RecordingSink = field(default_factory=RecordingSink)
    agents: InMemoryAgentStore = field(default_factory=InMemoryAgentStore)
    recall: InMemoryRecallStore = field(default_factory=InMemoryRecallStore)
    archival: InMemoryArchivalStore = field(default_factory=InMemoryArchivalStore)
    counter: TokenCounter = field(default_factory=lambda: TokenCounter("gpt-4o-mini"))
    checkins: CheckinService | None = None
    inbox: Inbox | None = None
    _ids: count[int] = field(default_factory=lambda: count(1))

    def __post_init__(self) -> None:
        self.registry = self.tools or register_memgpt_tools(ToolRegistry())
        self.runtime = AgentRuntime(
            model=self.model,
            agents=self.agents,
            recall=self.recall,
            archival=self.archival,
            tools=self.registry,
            prompts=default_prompts(),
            counter=self.counter,
            clock=self.clock,
            replies=self.sink,
            settings=self.settings,
            embedder=self.embedder,
            checkins=self.checkins,
            inbox=self.inbox,
        )

    def message(self, text: str, agent: str = "agent-1", **kw: object) -> UserMessageReceived:
        self.clock.advance(minutes=1)
        return UserMessageReceived(
            event_id=f"evt-{next(self._ids)}",
            agent_key=agent,
            occurred_at=self.clock.now(),
            text=text,
            reply_to=Address(platform="test", channel_id="c1", is_direct=True),
            **kw,  # type: ignore[arg-type]
        )

    async def send(self, text: str, agent: str = "agent-1", **kw: object):
        return await self.runtime.handle(self.message(text, agent, **kw))
