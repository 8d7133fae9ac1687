"""Values the stores keep and return: agent state, passages, queries, pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

from core.context.memory import WorkingContext
from core.events import Address, Event, SendReply
from core.messages import Message, StepTrace

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


class DayUsage(NamedTuple):
    """One UTC day's tokens (a JSON array when stored: a year of days stays small)."""

    day: str
    calls: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0

    def plus(self, usage: TokenUsage) -> DayUsage:
        return DayUsage(
            self.day,
            self.calls + usage.calls,
            self.prompt_tokens + usage.prompt_tokens,
            self.cached_tokens + usage.cached_tokens,
            self.completion_tokens + usage.completion_tokens,
        )


USAGE_HISTORY_DAYS = 400  # days of per-day usage an agent keeps (days with no call: none)
OPERATOR_OUTCOMES = 32  # outcomes of operator changes an agent keeps (for replays and waits)


class OperatorOutcome(BaseModel):
    """What became of an operator's change (``OperatorChangeRequested``): stored with the
    change, so a replayed event finds it and changes nothing twice."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    status: Literal["applied", "refused"]
    message: str = ""
    current: int | None = None  # a refused edit's current version


class FailedCall(BaseModel):
    """A model call that failed, with what it was sent (its turn left no answer to carry
    the trace): kept in the agent state, the newest ``FAILED_CALLS``."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    trace: StepTrace


FAILED_CALLS = 20
EVENT_USAGES = 16  # the last events' own token counts an agent keeps (for whoever waits on one)


class EventUsage(BaseModel):
    """The tokens one event's turn cost, over all its steps (the OpenAI-compatible endpoint
    reports them as the reply's ``usage``, whichever replica ran the turn)."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    usage: TokenUsage


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
    usage_days: tuple[DayUsage, ...] = ()  # oldest first, at most USAGE_HISTORY_DAYS
    daily_token_budget: int | None = None  # the operator's budget for this agent, if any
    operator_outcomes: tuple[OperatorOutcome, ...] = ()  # newest last
    failed_calls: tuple[FailedCall, ...] = ()  # newest last, at most FAILED_CALLS
    paused_at: datetime | None = None  # an operator paused it: no model call until resumed
    pause_notice_sent: bool = False  # the person was told of this pause
    event_usage: tuple[EventUsage, ...] = ()  # newest last, at most EVENT_USAGES
    created_at: datetime
    updated_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _history_from_one_day(cls, data: Any) -> Any:
        """A state stored before the per-day history starts it with the day it kept."""
        if isinstance(data, dict) and "usage_days" not in data and data.get("usage_day"):
            today = TokenUsage.model_validate(data.get("usage_today") or {})
            data = {**data, "usage_days": [DayUsage(data["usage_day"]).plus(today)]}
        return data

    @property
    def prompt_memory(self) -> WorkingContext:
        """The working context the system message shows."""
        return self.shown_memory if self.shown_memory is not None else self.memory

    def with_usage(self, usage: TokenUsage, day: str) -> AgentState:
        """This state with ``usage`` added to today's and the lifetime totals."""
        today = self.usage_today if self.usage_day == day else TokenUsage()
        days = self.usage_days
        if days and days[-1].day == day:
            days = (*days[:-1], days[-1].plus(usage))
        else:
            days = (*days, DayUsage(day).plus(usage))[-USAGE_HISTORY_DAYS:]
        return self.model_copy(
            update={
                "usage_day": day,
                "usage_today": today.plus(usage),
                "usage_total": self.usage_total.plus(usage),
                "usage_days": days,
            }
        )

    def with_event_usage(self, event_id: str, usage: TokenUsage) -> AgentState:
        """This state with ``usage`` added to what event ``event_id`` has cost so far."""
        kept = self.event_usage
        if kept and kept[-1].event_id == event_id:
            entry = EventUsage(event_id=event_id, usage=kept[-1].usage.plus(usage))
            kept = (*kept[:-1], entry)
        else:
            kept = (*kept, EventUsage(event_id=event_id, usage=usage))[-EVENT_USAGES:]
        return self.model_copy(update={"event_usage": kept})

    def usage_of(self, event_id: str) -> TokenUsage | None:
        """What event ``event_id``'s turn cost, if it is among the last kept."""
        return next((e.usage for e in self.event_usage if e.event_id == event_id), None)


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
    scores: tuple[float, ...] = ()  # per item, when the store ranks (``core.ranking.scores``)
