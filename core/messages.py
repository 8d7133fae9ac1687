"""Messages: every entry of an agent's recall log, as the core sees it.

A message is immutable once created. Its ``seq`` is its position in the agent's log
(1, 2, 3, ...); the FIFO queue of the prompt is the tail of that log after the last eviction.
Messages round-trip to JSON so stores can keep them as documents.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from core.events import (
    Event,
    HeartbeatRequested,
    SystemAlertRaised,
    TimerFired,
    UploadCompleted,
    UserMessageReceived,
)
from core.text import plural

Role = Literal["user", "assistant", "tool"]

MessageKind = Literal[
    "user_message",  # a person wrote to the agent
    "system_alert",  # Pagemind told the agent something (memory pressure, a stopped chain)
    "heartbeat",  # the agent was woken up with nothing new to read
    "timer",  # a scheduled check-in came due
    "upload",  # a file finished loading into archival memory
    "assistant",  # the model's answer: inner thoughts and/or function calls
    "tool_result",  # what a function call returned
]

SEND_MESSAGE = "send_message"


class ToolCall(BaseModel):
    """One function call as the model produced it. ``arguments`` is the raw JSON text."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: str


class SearchHit(BaseModel):
    """One result a search function showed the model: a message's number or a passage's
    id, and its score (None where the store gives none, e.g. a listing by date)."""

    model_config = ConfigDict(frozen=True)

    id: str
    score: float | None = None


class CallTrace(BaseModel):
    """How a function call went: how long it ran, and for searches what it found."""

    model_config = ConfigDict(frozen=True)

    duration_ms: float
    hits: tuple[SearchHit, ...] = ()


class PromptTokens(BaseModel):
    """Our count of a prompt, part by part (``core.context.layout``)."""

    model_config = ConfigDict(frozen=True)

    instructions: int = 0
    tools: int = 0
    reply_priming: int = 0
    working_context: int = 0
    summary: int = 0
    messages: int = 0

    @property
    def total(self) -> int:
        return (
            self.instructions
            + self.tools
            + self.reply_priming
            + self.working_context
            + self.summary
            + self.messages
        )


class StepTrace(BaseModel):
    """What one model call was sent and what it cost, kept with the answer it produced (or,
    for a failed call, in the agent state): enough to rebuild the exact request. The prompt
    was the system text named by ``system_sha256`` (stored once per distinct text), then the
    agent's messages ``first_seq`` to ``last_seq`` rendered in ``timezone`` with messages cut
    at ``max_message_tokens``; the tools were those named by ``tools_sha256``."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    first_seq: int  # the prompt's messages (none when first_seq > last_seq)
    last_seq: int
    system_sha256: str
    tools_sha256: str
    timezone: str
    max_message_tokens: int
    max_reply_tokens: int
    tokens: PromptTokens
    latency_ms: float
    prompt_tokens: int | None = None  # as the provider reported them
    cached_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    error: str | None = None  # a failed call's error


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    role: Role
    kind: MessageKind
    content: str
    created_at: datetime
    event_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    tool_name: str | None = None
    author_id: str | None = None
    author_name: str | None = None
    trace: StepTrace | None = None  # a model's answer: the call that produced it
    call: CallTrace | None = None  # a function's result: how the call went

    def spoken_text(self) -> str:
        """What was said in the conversation: the text recall search looks at.

        For the agent's own turns this is what it sent with ``send_message`` (inner thoughts
        and other calls are left out); function results have none.
        """
        if self.kind == "assistant":
            parts = []
            for call in self.tool_calls:
                if call.name == SEND_MESSAGE:
                    text = _message_argument(call.arguments)
                    if text:
                        parts.append(text)
            return "\n".join(parts)
        if self.kind == "tool_result":
            return ""
        return self.content

    @property
    def search_role(self) -> Literal["user", "assistant", "system"]:
        """The role a recall search filters on: who said it, as the model is told."""
        if self.kind == "user_message":
            return "user"
        if self.kind in ("assistant", "tool_result"):
            return "assistant"
        return "system"


def _message_argument(arguments: str) -> str:
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return ""
    if isinstance(parsed, dict):
        value = parsed.get("message")
        if isinstance(value, str):
            return value
    return ""


def event_message(event: Event, seq: int) -> Message:
    """The message an event adds to the FIFO queue and recall."""
    content: str
    kind: MessageKind
    match event:
        case UserMessageReceived():
            return Message(
                seq=seq,
                role="user",
                kind="user_message",
                content=event.text,
                created_at=event.occurred_at,
                event_id=event.event_id,
                author_id=event.author_id,
                author_name=event.author_name,
            )
        case SystemAlertRaised():
            kind, content = "system_alert", event.text
        case HeartbeatRequested():
            kind, content = "heartbeat", event.reason or "no new input"
        case TimerFired():
            kind, content = "timer", event.note
        case UploadCompleted():
            kind = "upload"
            content = (
                f"Archive Storage Upload Complete: {plural(event.passages, 'passage')} from "
                f"{event.filename}."
            )
            if event.detail:
                content += f" {event.detail}"
    return Message(
        seq=seq,
        role="user",
        kind=kind,
        content=content,
        created_at=event.occurred_at,
        event_id=event.event_id,
    )
