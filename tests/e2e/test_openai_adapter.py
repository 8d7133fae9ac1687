"""The real ``openai`` SDK adapter against a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import pytest

from adapters.openai_compatible.chat import OpenAICompatibleChatModel
from core.errors import ContextWindowExceededError, LLMRateLimitedError, LLMUnavailableError
from core.ports.model import ChatRequest, PromptMessage
from tests.support.agents import Harness
from tests.support.openai_server import (
    ScriptedOpenAIServer,
    context_error,
    error_reply,
    text_reply,
    tool_reply,
)


@pytest.fixture
async def server():
    async with ScriptedOpenAIServer() as s:
        yield s


_open: list[OpenAICompatibleChatModel] = []


@pytest.fixture(autouse=True)
async def close_clients():
    yield
    while _open:
        await _open.pop().aclose()


def adapter(server: ScriptedOpenAIServer, **kw) -> OpenAICompatibleChatModel:
    model = OpenAICompatibleChatModel(
        model="scripted-1", api_key="test-key", base_url=server.base_url, **kw
    )
    _open.append(model)
    return model


async def test_a_full_turn_through_the_real_sdk(server: ScriptedOpenAIServer) -> None:
    server.add(
        tool_reply(
            "core_memory_append",
            {"label": "human", "content": "Name: Ana", "request_heartbeat": True},
            content="Noting her name.",
        ),
        tool_reply("send_message", {"message": "Nice to meet you, Ana!"}),
    )
    model = adapter(server)
    h = Harness(model)  # type: ignore[arg-type]
    await h.send("Hi, I'm Ana")
    assert h.sink.texts == ["Nice to meet you, Ana!"]
    first, second = (body for _, body in server.requests)
    assert first["model"] == "scripted-1"
    assert next(t["function"]["name"] for t in first["tools"]) == "send_message"
    assert first["max_tokens"] == h.settings.reply_tokens
    assert first["messages"][0]["role"] == "system" and first["messages"][-1]["content"].endswith(
        "Hi, I'm Ana"
    )
    # the second call carries the assistant's call and its result, linked by id
    call_msg, result = second["messages"][-2:]
    assert call_msg["role"] == "assistant" and call_msg["content"] == "Noting her name."
    assert result["role"] == "tool" and result["tool_call_id"] == call_msg["tool_calls"][0]["id"]
    assert result["content"].endswith("Name: Ana")
    # the memory edit did not rewrite the cached prefix
    assert second["messages"][0] == first["messages"][0]
    state = (await h.runtime.session("agent-1")).state
    assert state.usage_today.calls == 2 and state.usage_today.prompt_tokens > 0


async def test_usage_including_cached_tokens_is_reported(server: ScriptedOpenAIServer) -> None:
    server.add({"content": "hi", "cached": 1024})
    model = adapter(server)
    response = await model.complete(
        ChatRequest(messages=(PromptMessage("user", "hi"),), tools=(), max_reply_tokens=10)
    )
    assert response.content == "hi"
    assert response.usage is not None and response.usage.cached_tokens == 1024
    assert response.usage.completion_tokens == 12


async def test_429_is_retried_after_the_retry_after_delay(
    server: ScriptedOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="openai")
    server.add(error_reply(429, "slow down", headers={"Retry-After": "1"}), text_reply("finally"))
    model = adapter(server)
    response = await model.complete(
        ChatRequest(messages=(PromptMessage("user", "hi"),), tools=(), max_reply_tokens=10)
    )
    assert response.content == "finally"
    assert len(server.requests) == 2
    # The SDK's own backoff would be under a second; it waited what the header said.
    waits = [r.args[0] for r in caplog.records if r.msg.startswith("Retrying request in %f")]
    assert waits == [1.0], "the Retry-After header was not honoured"


async def test_500_is_retried_then_reported(server: ScriptedOpenAIServer) -> None:
    server.add(error_reply(500, "boom"), text_reply("recovered"))
    model = adapter(server)
    response = await model.complete(
        ChatRequest(messages=(PromptMessage("user", "hi"),), tools=(), max_reply_tokens=10)
    )
    assert response.content == "recovered"
    server.default = error_reply(503, "down for maintenance")
    with pytest.raises(LLMUnavailableError, match="503: down for maintenance"):
        await adapter(server, max_retries=1).complete(
            ChatRequest(messages=(PromptMessage("user", "hi"),), tools=(), max_reply_tokens=10)
        )


async def test_persistent_429_becomes_a_rate_limit_error(server: ScriptedOpenAIServer) -> None:
    server.default = error_reply(429, "quota", headers={"Retry-After": "0"})
    with pytest.raises(LLMRateLimitedError):
        await adapter(server, max_retries=1).complete(
            ChatRequest(messages=(PromptMessage("user", "hi"),), tools=(), max_reply_tokens=10)
        )
    assert len(server.requests) == 2


async def test_the_rate_limit_error_says_how_long_the_server_asked_to_wait(
    server: ScriptedOpenAIServer,
) -> None:
    server.default = error_reply(429, "quota", headers={"Retry-After": "7"})
    with pytest.raises(LLMRateLimitedError) as caught:
        await adapter(server, max_retries=0).complete(
            ChatRequest(messages=(PromptMessage("user", "hi"),), tools=(), max_reply_tokens=10)
        )
    assert caught.value.retry_after == 7.0


async def test_context_length_error_is_recognised_and_the_turn_recovers(
    server: ScriptedOpenAIServer,
) -> None:
    model = adapter(server)
    server.add(context_error())
    with pytest.raises(ContextWindowExceededError, match="maximum context length"):
        await model.complete(
            ChatRequest(messages=(PromptMessage("user", "hi"),), tools=(), max_reply_tokens=10)
        )
    # through the runtime: a flush, then the retry succeeds
    from core.turn.settings import AgentSettings

    h = Harness(model, settings=AgentSettings(context_window=8000, reply_tokens=500))  # type: ignore[arg-type]
    server.default = tool_reply("send_message", {"message": "ok"})
    for i in range(6):
        await h.send(f"message {i} " + "words " * 60)
    server.default = None
    server.add(
        context_error(),
        text_reply("a summary of it all"),
        tool_reply("send_message", {"message": "still here"}),
    )
    await h.send("and now?")
    assert h.sink.texts[-1] == "still here"
    assert (await h.runtime.session("agent-1")).state.summary == "a summary of it all"


async def test_unreachable_endpoint_is_a_clear_error() -> None:
    model = OpenAICompatibleChatModel(
        model="m", api_key="k", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2
    )
    _open.append(model)
    with pytest.raises(LLMUnavailableError, match=r"cannot connect to http://127\.0\.0\.1:9/v1"):
        await model.complete(
            ChatRequest(messages=(PromptMessage("user", "hi"),), tools=(), max_reply_tokens=10)
        )


async def test_garbled_tool_call_from_the_server_is_fed_back(server: ScriptedOpenAIServer) -> None:
    server.add(
        tool_reply("archival_memory_search", '{"query": "tea", "page": '),
        tool_reply("send_message", {"message": "sorry"}),
    )
    model = adapter(server)
    h = Harness(model)  # type: ignore[arg-type]
    await h.send("find tea")
    result = server.requests[1][1]["messages"][-1]
    assert result["role"] == "tool" and "not valid JSON" in result["content"]
    assert h.sink.texts == ["sorry"]


async def test_a_body_that_is_not_a_completion_is_an_error(server: ScriptedOpenAIServer) -> None:
    from core.errors import LLMError

    server.add({"raw": json.dumps({"unexpected": True})})
    model = adapter(server)
    with pytest.raises(LLMError):
        await model.complete(
            ChatRequest(messages=(PromptMessage("user", "hi"),), tools=(), max_reply_tokens=10)
        )


ONE_COMPLETION = """
import asyncio, sys
from adapters.openai_compatible.chat import OpenAICompatibleChatModel
from core.ports.model import ChatRequest, PromptMessage

async def main():
    model = OpenAICompatibleChatModel(model="scripted-1", api_key="k", base_url=sys.argv[1])
    request = ChatRequest(messages=(PromptMessage("user", "hi"),), tools=(), max_reply_tokens=10)
    print((await model.complete(request)).content)
    await model.aclose()
    print("aiohttp loaded" if "aiohttp" in sys.modules else "aiohttp not loaded")
    import aiohttp  # discord.py's HTTP library, still there for it
    print("aiohttp", aiohttp.__version__ > "")

asyncio.run(main())
"""


async def test_the_sdk_answers_without_loading_aiohttp(server: ScriptedOpenAIServer) -> None:
    """``openai`` imports its aiohttp transport (about 10 MiB resident) whenever aiohttp is
    installed, and it is, for discord.py; we never use that transport. A fresh process that
    completes through the adapter has not loaded aiohttp, and can still import it."""
    server.add(text_reply("hello"))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        ONE_COMPLETION,
        server.base_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parents[2],  # the checkout, whatever pytest was started from
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert out.decode().splitlines() == ["hello", "aiohttp not loaded", "aiohttp True"]
