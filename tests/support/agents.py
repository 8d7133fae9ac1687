"""Build an agent runtime through the composition root (``bots.bootstrap.wire``), on
in-memory stores with a scripted model (a test double at the LLM port)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from bots.bootstrap import Service, wire
from bots.storage import memory_storage
from config.prompts import read
from config.settings import Settings
from core.checkins.service import CheckinService
from core.context.layout import PromptTexts
from core.context.tokens import TokenCounter
from core.events import Address, SendReply, UserMessageReceived
from core.ports import AgentStore, ArchivalStore, Embedder, Inbox, RecallStore, ReplySink
from core.tools.memgpt import register_memgpt_tools
from core.tools.registry import ToolRegistry
from core.turn.settings import AgentSettings
from tests.support.scripted import ScriptedModel


def settings_for_tests(**overrides: Any) -> Settings:
    """Settings as a test wants them: in-memory stores, a (never called) OpenAI key, no
    check-ins unless asked, and nothing from a ``.env`` file."""
    values: dict[str, Any] = {"storage": "memory", "llm_api_key": "test-key", "checkins": False}
    return Settings(_env_file=None, **{**values, **overrides})  # type: ignore[call-arg]


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


def fresh_agents() -> AgentStore:
    """An empty agent store, to wrap in a fake that fails on cue."""
    return memory_storage().agents


@dataclass
class Harness:
    """The runtime as ``wire`` builds it; stores not given are fresh in-memory ones (pass
    another harness's to play a restarted process on the same data)."""

    model: ScriptedModel
    settings: AgentSettings = field(default_factory=AgentSettings)
    embedder: Embedder | None = None
    tools: ToolRegistry | None = None
    clock: ManualClock = field(default_factory=ManualClock)
    sink: ReplySink = field(default_factory=RecordingSink)
    agents: Any = None
    recall: Any = None
    archival: Any = None
    counter: Any = None
    checkins: CheckinService | None = None
    inbox: Any = None
    _ids: count[int] = field(default_factory=lambda: count(1))

    def __post_init__(self) -> None:
        fresh = memory_storage()
        storage = replace(
            fresh,
            agents=self.agents or fresh.agents,
            recall=self.recall or fresh.recall,
            archival=self.archival or fresh.archival,
            inbox=self.inbox or fresh.inbox,
        )
        self.agents: AgentStore = storage.agents
        self.recall: RecallStore = storage.recall
        self.archival: ArchivalStore = storage.archival
        self.inbox: Inbox = storage.inbox
        self.registry = self.tools or register_memgpt_tools(ToolRegistry())
        self.service: Service = wire(
            settings_for_tests(),
            storage=storage,
            model=self.model,
            replies=self.sink,
            clock=self.clock,
            embedder=self.embedder,
            tuning=self.settings,
            tools=self.registry,
            counter=self.counter,
            checkins=self.checkins,
        )
        self.counter: TokenCounter = self.service.counter
        self.runtime = self.service.runtime

    def message(self, text: str, agent: str = "agent-1", **kw: Any) -> UserMessageReceived:
        self.clock.advance(minutes=1)
        return UserMessageReceived(
            event_id=f"evt-{next(self._ids)}",
            agent_key=agent,
            occurred_at=self.clock.now(),
            text=text,
            reply_to=Address(platform="test", channel_id="c1", is_direct=True),
            **kw,
        )

    async def send(self, text: str, agent: str = "agent-1", **kw: Any):
        return await self.runtime.handle(self.message(text, agent, **kw))
