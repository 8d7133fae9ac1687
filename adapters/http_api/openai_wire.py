"""OpenAI's chat-completions shapes, as far as Pagemind's compatible endpoint speaks them.

These are OpenAI's wire format, not Pagemind's (``pagemind_client.models``): their client is
the official ``openai`` package. Requests accept every field OpenAI defines (unknown ones are
ignored, see ``adapters.http_api.routers.openai_compat``); responses carry what the ``openai``
client reads.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MODEL_ID = "pagemind"  # the one model /v1/models lists: the agents, whatever LLM they run on


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str = Field(description="system, developer, user, assistant or tool")
    content: str | list[dict[str, Any]] | None = Field(
        None, description="text, or a list of parts of which only the text parts are read"
    )


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "model": MODEL_ID,
                "user": "ana",
                "messages": [{"role": "user", "content": "What do you remember about me?"}],
            }
        },
    )

    model: str = Field(description=f"any name; the answer names {MODEL_ID!r}")
    messages: list[ChatMessageIn] = Field(
        min_length=1, description="only the newest user message is read"
    )
    user: str | None = Field(
        None,
        description="the person talking (their own agent answers); or the X-Pagemind-User header",
    )
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(None, description="1 only (the agent answers once)")


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class PromptTokensDetails(BaseModel):
    cached_tokens: int = 0


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails = PromptTokensDetails()


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str = MODEL_ID
    choices: list[Choice]
    usage: CompletionUsage
    system_fingerprint: None = None


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str = MODEL_ID
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None
    system_fingerprint: None = None


class Model(BaseModel):
    id: str = MODEL_ID
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "pagemind"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    error: OpenAIErrorDetail
