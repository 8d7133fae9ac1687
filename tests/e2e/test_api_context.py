"""The context window through the operator API: part by part, and exactly what the agent's
next model call counts (checked inside that call, against the request the model server
received). A live server on memory and nx-27017."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from pagemind_client import NotFoundError
from tests.support.api import LiveApi, live_api
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply


@pytest.fixture
async def live(llm_default: ScriptedOpenAIServer, storage: str) -> AsyncIterator[LiveApi]:
    async with live_api(llm_default, storage, context_window=16_000) as api:
        yield api


async def next_call_counts(live: LiveApi, llm: ScriptedOpenAIServer, key: str) -> dict[str, Any]:
    """Drive the agent's next turn; inside its model call, read what the turn counted for
    the prompt it sent and what the model server received."""
    seen: dict[str, Any] = {}

    async def observe(body: dict[str, Any]) -> dict[str, Any]:
        session = await live.svc.runtime.session(key)  # the turn's own context, mid-call
        seen["total"] = session.prompt_tokens()
        seen["new_message"] = session.tokens[-1]
        seen["system"] = session.messages()[0].content
        seen["body"] = body
        return tool_reply("send_message", {"message": "ok"})

    llm.add(observe)
    await live.talk(key, "and one more thing: I moved to Lisbon")
    return seen


async def test_the_context_window_is_what_the_next_call_counts(
    live: LiveApi, llm_default: ScriptedOpenAIServer
) -> None:
    key = "telegram:user:42"
    await live.talk(key, "hi, I am Ana")
    await live.talk(key, "I grow tomatoes on my balcony")
    async with live.client(live.viewer_key) as pm:
        window = await pm.context.get(key)
    assert [m.id for m in window.messages] == [1, 2, 3, 4, 5, 6]
    assert [m.role for m in window.messages] == ["user", "assistant", "tool"] * 2
    assert all(m.tokens > 4 for m in window.messages)
    parts = (
        window.instructions
        + window.tools
        + window.reply_priming
        + window.working_context
        + window.summary.tokens
        + window.messages_tokens
    )
    assert window.total == parts and window.messages_tokens == sum(
        m.tokens for m in window.messages
    )
    assert window.summary.tokens == 0 and window.summary.covers_upto == 0
    assert window.window == 16_000 and window.reply_reserve == 1024
    assert window.flush_line == 16_000 - 1024 and window.warning_line == int(0.7 * 16_000)
    assert window.free == window.flush_line - window.corrected_total and not window.would_flush
    seen = await next_call_counts(live, llm_default, key)
    # the next call sent exactly this context, plus the message that started it
    assert seen["total"] == window.total + seen["new_message"]
    assert seen["body"]["messages"][0] == {"role": "system", "content": seen["system"]}
    assert len(seen["body"]["messages"]) == len(window.messages) + 2


async def test_the_summary_shows_its_text_and_the_messages_it_covers(
    live: LiveApi, llm_default: ScriptedOpenAIServer
) -> None:
    key = "telegram:user:42"
    for text in ("hi, I am Ana", "I grow tomatoes", "and basil"):
        await live.talk(key, text)
    agents = live.svc.storage.agents
    state = await agents.load(key)
    assert state is not None
    summary = "Ana introduced herself and said she grows tomatoes."
    await agents.save(
        state.model_copy(update={"summary": summary, "summary_upto_seq": 3}), state.version
    )
    live.svc.runtime.forget(key)  # as a flush by another worker would leave it
    async with live.client(live.viewer_key) as pm:
        window = await pm.context.get(key)
    assert window.summary.text == summary and window.summary.covers_upto == 3
    assert window.summary.tokens > 0
    assert [m.id for m in window.messages] == [4, 5, 6, 7, 8, 9]
    seen = await next_call_counts(live, llm_default, key)
    assert seen["total"] == window.total + seen["new_message"]
    assert summary in seen["body"]["messages"][0]["content"]


async def test_the_context_of_an_unknown_agent_is_404(live: LiveApi) -> None:
    async with live.client(live.viewer_key) as pm:
        with pytest.raises(NotFoundError, match="no agent"):
            await pm.context.get("telegram:user:404")
    async with live.http() as anonymous:
        response = await anonymous.get("/api/agents/telegram:user:404/context")
        assert response.status_code == 401
