"""The ports: every way the core reaches outside itself.

Each is a small Protocol. Adapters implement them (MongoDB, OpenAI-compatible HTTP, the chat
platforms); ``adapters.inmemory`` implements the stores in memory, and the same contract
suite in ``tests/contracts`` runs against both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from core.events import Event, SendReply
from core.llm import ChatModel
from core.messages import Message
from core.records import AgentState, ArchivalQuery, Page, Passage, RecallQuery

__all__ = [
    "AgentStore",
    "ArchivalStore",
    "ChatModel",
    "Clock",
    "Embedder",
    "Inbox",
    "RecallStore",
    "ReplySink",
    "TurnObserver",
]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class AgentStore(Protocol):
    async def load(self, agent_key: str) -> AgentState | None: ...

    async def save(self, state: AgentState, expected_version: int | None) -> AgentState:
        """Store ``state`` with ``version = expected_version + 1`` and return it.

        ``expected_version=None`` creates the agent. Raises ``ConcurrentUpdateError`` if the
        stored version is not ``expected_version`` (or, on create, if the agent exists).
        """
        ...

    async def list_keys(self) -> list[str]: ...

    async def erase(self, agent_key: str) -> None: ...


class RecallStore(Protocol):
    async def append(self, agent_key: str, messages: Sequence[Message]) -> None:
        """Store messages. Idempotent by ``(agent_key, seq)``: a replay overwrites."""
        ...

    async def range(self, agent_key: str, after_seq: int, upto_seq: int) -> list[Message]:
        """Messages with ``after_seq < seq <= upto_seq``, in order."""
        ...

    async def search(self, agent_key: str, query: RecallQuery) -> Page[Message]: ...

    async def count(self, agent_key: str) -> int: ...

    async def discard_after(self, agent_key: str, seq: int) -> int:
        """Delete messages with ``seq`` above the last committed one (a crashed step's)."""
        ...

    async def erase(self, agent_key: str) -> None: ...


class ArchivalStore(Protocol):
    async def insert(self, agent_key: str, passages: Sequence[Passage]) -> None:
        """Store passages. Idempotent by passage ``id``."""
        ...

    async def search(self, agent_key: str, query: ArchivalQuery) -> Page[Passage]: ...

    async def count(self, agent_key: str) -> int: ...

    async def all(self, agent_key: str) -> list[Passage]: ...

    async def erase(self, agent_key: str) -> None: ...


class Embedder(Protocol):
    """Turns texts into vectors for semantic archival search (optional)."""

    @property
    def name(self) -> str: ...

    async def embed(self, texts: Sequence[str]) -> list[tuple[float, ...]]: ...


class Inbox(Protocol):
    """Events waiting for their agent, kept until the turn that handles them is stored."""

    async def put(self, event: Event) -> bool:
        """Record ``event``; False if an event with the same id was already recorded."""
        ...

    async def pending(self, agent_key: str | None = None) -> list[Event]:
        """Unfinished events, oldest first (for one agent, or all)."""
        ...

    async def mark_done(self, event_id: str, *, error: str | None = None) -> None: ...


class ReplySink(Protocol):
    """Delivers the agent's messages to wherever the user is (a platform, the console)."""

    async def send(self, reply: SendReply) -> None: ...


class TurnObserver(Protocol):
    """Told about every stored step: the console shows function calls and thoughts with it."""

    def step_stored(self, agent_key: str, messages: Sequence[Message]) -> None: ...
