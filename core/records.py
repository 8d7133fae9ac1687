"""Values the stores keep and return: agent state, passages, queries, pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from core.context.memory import WorkingContext
from core.events import Address, Event, SendReply
from core.messages import Message

SCHEMA_VERSION = 2  # 2: search terms stemmed with Snowball

SearchRole = Literal["user", "assistant", "system"]
T = TypeVar("T")


class TokenUsage(BaseModel):
    model_config = ConfigDict(frozen=True)

    calls: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0

    def plus(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            calls=self.calls + other.calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class AgentState(BaseModel):
    """Everything about one agent that is not a message or a passage.

    The FIFO queue is not stored here: it is the agent's recall messages with
    ``summary_upto_seq < seq <= last_seq``. ``version`` increases with every save, and a save
    that expects an older version fails, so two workers can never both commit.

    ``memory`` is the working context as it is now. ``shown_memory``, when set, is the older
    version still rendered in the system message: edits since then appear in the FIFO queue
    as function results carrying the block's new full text, so the prompt prefix (and the
    provider's cache of it) survives an edit. It is brought up to date at the next flush, or
    when the provider's cache has gone cold anyway.
    """

    model_config = ConfigDict(frozen=True)

    agent_key: str
    memory: WorkingContext
    shown_memory: WorkingContext | None = None
    version: int = 0
    schema_version: int = SCHEMA_VERSION
    summary: str = ""
    summary_upto_seq: int = 0
    last_seq: int = 0
    memory_warning_sent: bool = False
    last_event_id: str | None = None
    recent_event_ids: tuple[str, ...] = ()  # events whose turns are stored, newest last
    chain_open: bool = False
    outbox: tuple[SendReply, ...] = ()
    unfiled: tuple[Message, ...] = ()
    home: Address | None = None
    last_user_message_at: datetime | None = None
    timezone: str = "UTC"
    usage_day: str = ""
    usage_today: TokenUsage = TokenUsage()
    usage_total: TokenUsage = TokenUsage()
    created_at: datetime
    updated_at: datetime

    @property
    def prompt_memory(self) -> WorkingContext:
        """The working context the system message shows."""
        return self.shown_memory if self.shown_memory is not None else self.memory

    def with_usage(self, usage: TokenUsage, day: str) -> AgentState:
        """This state with ``usage`` added to today's and the lifetime totals."""
        today = self.usage_today if self.usage_day == day else TokenUsage()
        return self.model_copy(
            update={
                "usage_day": day,
                "usage_today": today.plus(usage),
                "usage_total": self.usage_total.plus(usage),
            }
        )


class FailedEvent(BaseModel):
    """An event whose every attempt failed: kept, with the reason, for the person's export
    and the operator."""

    model_config = ConfigDict(frozen=True)

    event: Event
    error: str


class Passage(BaseModel):
    """A piece of archival memory: a fact the agent saved or a chunk of an uploaded file."""

    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    source: str
    created_at: datetime
    section: str | None = None
    chunk_index: int = 0
    document_id: str | None = None
    embedding: tuple[float, ...] | None = None

    def citation(self) -> str:
        parts = [self.source]
        if self.section:
            parts.append(self.section)
        if self.document_id is not None:
            parts.append(f"chunk {self.chunk_index + 1}")
        return ", ".join(parts)


class ArchivalSource(BaseModel):
    """Where some of an agent's passages came from: one uploaded file (``document_id`` and
    ``filename``), or, with both None, every passage the agent saved itself. ``stored_at``:
    when the file was stored; for the agent's own passages, when the latest was saved."""

    model_config = ConfigDict(frozen=True)

    document_id: str | None
    filename: str | None
    passages: int
    stored_at: datetime


@dataclass(frozen=True, slots=True)
class RecallQuery:
    text: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    roles: frozenset[SearchRole] | None = None
    order: Literal["relevance", "newest", "oldest"] = "relevance"
    offset: int = 0
    limit: int = 5
    max_seq: int | None = None


@dataclass(frozen=True, slots=True)
class ArchivalQuery:
    """Words to match, and optionally a query vector: then the ``semantic_k`` nearest
    passages are fused with the word matches (reciprocal-rank fusion)."""

    text: str
    embedding: tuple[float, ...] | None = None
    offset: int = 0
    limit: int = 5
    semantic_k: int = 50


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results. ``exact_total`` is False when the store stopped counting at its
    candidate limit: there are at least ``total`` results."""

    items: tuple[T, ...]
    total: int
    offset: int = 0
    limit: int = 5
    exact_total: bool = True
