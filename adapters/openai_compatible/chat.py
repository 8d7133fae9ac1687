"""The LLM port over any OpenAI-compatible chat-completions endpoint, with the ``openai`` SDK.

Works with OpenAI, vLLM, Ollama, llama.cpp's server, LM Studio and others that speak
``/v1/chat/completions`` with ``tools``. Retries with backoff on 408/409/429/5xx and
connection errors are the SDK's own (it honours ``Retry-After``); what is left after the
retries is mapped onto the core's ``LLMError`` tree here, at the edge.

The request goes through the SDK's own request path (``client.post`` with ``cast_to`` the
completion type), which keeps its retries, timeouts, auth headers, error types and response
parsing, but not through ``chat.completions.create``: that walks every message of every
request through the SDK's parameter transform (about half a millisecond per message, a
third of a second per call with a few hundred messages in the context) only to produce the
JSON ``adapters.openai_compatible.request_body`` writes directly, each message once.
``tests/e2e/test_openai_request_body.py`` checks that the server receives the same bytes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from adapters.openai_compatible.errors import map_error, map_unexpected
from adapters.openai_compatible.request_body import RequestBodies
from adapters.openai_compatible.startup import check_model_server
from core.errors import LLMError, LLMResponseError
from core.messages import ToolCall
from core.ports.model import ChatRequest, ChatResponse, Usage
from core.text import valid_json_text, valid_text

log = logging.getLogger(__name__)


class OpenAICompatibleChatModel:
    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        temperature: float | None = None,
        client: openai.AsyncOpenAI | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.temperature = temperature
        self._bodies = RequestBodies()
        self._client = client or openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self._max_tokens_param = max_tokens_param(base_url)

    async def aclose(self) -> None:
        await self._client.close()

    async def check(self) -> None:
        """At start: raise ``ConfigurationError`` (one line) if the server cannot be reached,
        rejects the key or does not serve the model."""
        where = self.base_url or "api.openai.com"
        await check_model_server(self._client, self.model, where, self._max_tokens_param)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        body = self._bodies.write(
            request,
            model=self.model,
            max_tokens_param=self._max_tokens_param,
            temperature=self.temperature,
        )
        started = time.perf_counter()
        where = self.base_url or "api.openai.com"
        try:
            completion = await self._client.post(
                "/chat/completions", content=body, cast_to=ChatCompletion, options=_OPTIONS
            )
            response = _from_completion(completion)
        except openai.APIError as exc:
            raise map_error(exc, service="chat", model=self.model, where=where) from exc
        except LLMError:
            raise
        except Exception as exc:  # a body that is not JSON, a shape the SDK did not expect
            raise map_unexpected(exc, service="chat", where=where) from exc
        log.debug(
            "LLM call: %.0f ms, usage %s",
            (time.perf_counter() - started) * 1000,
            response.usage,
            extra={"agent_key": request.agent_key},
        )
        return response


# What ``chat.completions.create`` asks for: the API key as a bearer token. The client's
# default headers say the content is JSON.
_OPTIONS: Any = {"security": {"bearer_auth": True}}


def _from_completion(completion: Any) -> ChatResponse:
    choices = getattr(completion, "choices", None)
    if not choices:
        raise LLMResponseError("the endpoint returned no choices")
    choice = choices[0]
    message = getattr(choice, "message", None)
    if message is None:
        raise LLMResponseError("the endpoint returned a choice without a message")
    calls = []
    for i, call in enumerate(message.tool_calls or ()):
        function = getattr(call, "function", None)
        if function is None or not getattr(function, "name", None):
            continue
        calls.append(
            ToolCall(
                id=getattr(call, "id", None) or f"call_{i}",
                name=valid_text(function.name),
                arguments=valid_json_text(function.arguments or "{}"),
            )
        )
    usage = None
    if completion.usage is not None:
        details = getattr(completion.usage, "prompt_tokens_details", None)
        usage = Usage(
            prompt_tokens=completion.usage.prompt_tokens or 0,
            completion_tokens=completion.usage.completion_tokens or 0,
            cached_tokens=(getattr(details, "cached_tokens", None) or 0) if details else 0,
        )
    return ChatResponse(
        content=valid_text(message.content) if message.content is not None else None,
        tool_calls=tuple(calls),
        usage=usage,
        finish_reason=choice.finish_reason,
    )


def max_tokens_param(base_url: str | None) -> str:
    """OpenAI's own API wants max_completion_tokens (required by its reasoning models);
    most other servers only know max_tokens."""
    if base_url is None or "api.openai.com" in base_url:
        return "max_completion_tokens"
    return "max_tokens"


def request_writer(
    model: str, base_url: str | None, temperature: float | None
) -> Callable[[ChatRequest], bytes]:
    """The bytes ``OpenAICompatibleChatModel`` would send for a request (the operator API
    rebuilds past requests with it)."""
    bodies = RequestBodies(contexts=1)
    param = max_tokens_param(base_url)

    def write(request: ChatRequest) -> bytes:
        return bodies.write(request, model=model, max_tokens_param=param, temperature=temperature)

    return write
