"""The language model and the embedder: what the core sends, what it gets back.

Plain frozen dataclasses: they are built on every call, so they stay cheap. The OpenAI
adapter turns them into the wire format; the scripted test model reads them directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import JsonValue

from core.messages import ToolCall

PromptRole = Literal["system", "user", "assistant", "tool"]


Purpose = Literal["turn", "summary"]


@dataclass(frozen=True, slots=True)
class PromptMessage:
    role: PromptRole
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class ToolSchema:
    name: str
    description: str
    parameters: Mapping[str, JsonValue]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: tuple[PromptMessage, ...]
    tools: tuple[ToolSchema, ...]
    max_reply_tokens: int
    purpose: Purpose = "turn"
    agent_key: str = ""
    estimated_prompt_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ChatResponse:
    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    finish_reason: str | None = None


class ChatModel(Protocol):
    """Anything that answers a chat request with text and/or function calls.

    Raises ``ContextWindowExceededError`` when the provider says the prompt is too long, and
    another ``LLMError`` subclass when it cannot answer at all.
    """

    async def complete(self, request: ChatRequest) -> ChatResponse: ...


class Embedder(Protocol):
    """Turns texts into vectors for semantic archival search (optional)."""

    @property
    def name(self) -> str: ...

    async def embed(self, texts: Sequence[str]) -> list[tuple[float, ...]]: ...
