"""The OpenAI-compatible endpoint, driven with the official ``openai`` client (sync and async,
streaming and not) against a live server built by the composition root, with the scripted
model server behind the agents."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from core.notices import BUDGET_NOTICE
from tests.support.api import LiveApi, live_api
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply


def user_texts(body: dict[str, Any]) -> str:
    """Everything the model was shown as said by a person."""
    return " ".join(str(m.get("content")) for m in body["messages"] if m["role"] == "user")


def remembers(body: dict[str, Any]) -> dict[str, Any]:
    """A model that answers with the drinks it has seen the person mention."""
    seen = [drink for drink in ("tea", "coffee", "mate") if drink in user_texts(body)]
    return tool_reply("send_message", {"message": "you like " + " and ".join(seen or ["?"])})


@pytest.fixture
async def llm() -> AsyncIterator[ScriptedOpenAIServer]:
    async with ScriptedOpenAIServer(default=remembers) as server:
        yield server


@pytest.fixture
async def live(llm: ScriptedOpenAIServer, storage: str) -> AsyncIterator[LiveApi]:
    async with live_api(llm, storage) as api:
        yield api


Clients = tuple[openai.OpenAI, openai.AsyncOpenAI]
OPEN: list[Clients] = []


@pytest.fixture(autouse=True)
async def close_clients() -> AsyncIterator[None]:
    yield
    while OPEN:
        sync, client = OPEN.pop()
        sync.close()
        await client.close()


def clients(live: LiveApi, key: str | None = None) -> Clients:
    """The official clients, sync and async, as an operator's code would make them."""
    options: dict[str, Any] = {
        "base_url": f"{live.url}/v1",
        "api_key": key or live.admin_key,
        "max_retries": 0,
    }
    made = openai.OpenAI(**options), openai.AsyncOpenAI(**options)
    OPEN.append(made)
    return made


def model_usage(llm: ScriptedOpenAIServer, since: int) -> tuple[int, int]:
    """Prompt and completion tokens the scripted server reported for requests[since:]."""
    bodies = [body for _, body in llm.requests[since:]]
    return sum(len(json.dumps(b)) // 4 for b in bodies), 12 * len(bodies)


async def test_the_official_client_talks_to_the_persons_agent(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    sync, client = clients(live)
    models = await client.models.list()
    assert [m.id for m in models.data] == ["pagemind"]

    asked = len(llm.requests)
    reply = await client.chat.completions.create(
        model="pagemind", user="ana", messages=[{"role": "user", "content": "I drink tea"}]
    )
    assert reply.object == "chat.completion" and reply.model == "pagemind"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == "you like tea"
    assert reply.choices[0].finish_reason == "stop"
    prompt, completion = model_usage(llm, asked)
    assert reply.usage is not None and prompt > 0
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (prompt, completion)
    assert reply.usage.total_tokens == prompt + completion

    asked = len(llm.requests)
    again = await asyncio.to_thread(
        sync.chat.completions.create,
        model="gpt-4o",
        user="ana",
        messages=[{"role": "user", "content": "and mate"}],
    )
    assert again.choices[0].message.content == "you like tea and mate"  # its own memory
    assert again.usage is not None
    assert again.usage.prompt_tokens == model_usage(llm, asked)[0]

    agent = await live.svc.storage.agents.load("openai:user:ana")
    assert agent is not None and agent.usage_total.prompt_tokens == sum(
        len(json.dumps(b)) // 4 for _, b in llm.requests
    )


async def test_streaming_with_both_clients(live: LiveApi, llm: ScriptedOpenAIServer) -> None:
    sync, client = clients(live)
    asked = len(llm.requests)
    stream = await client.chat.completions.create(
        model="pagemind",
        user="bo",
        messages=[{"role": "user", "content": "coffee, black"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "you like coffee"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert usage is not None and not chunks[-1].choices
    assert (usage.prompt_tokens, usage.completion_tokens) == model_usage(llm, asked)

    def sync_stream() -> list[Any]:
        return list(
            sync.chat.completions.create(
                model="pagemind",
                user="bo",
                messages=[{"role": "user", "content": "and tea"}],
                stream=True,
            )
        )

    chunks = await asyncio.to_thread(sync_stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "you like tea and coffee"
    assert all(c.usage is None for c in chunks)  # not asked for

    async with live.http(live.admin_key) as http:
        body = {
            "model": "x",
            "user": "bo",
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }
        async with http.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = [line async for line in response.aiter_lines() if line.startswith("data:")]
    assert lines[-1] == "data: [DONE]"


async def test_two_persons_stay_separate_and_only_the_newest_message_is_read(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    _, client = clients(live)

    async def say(user: str, *messages: dict[str, str]) -> str:
        reply = await client.chat.completions.create(
            model="pagemind", user=user, messages=list(messages)
        )
        return reply.choices[0].message.content or ""

    first = await asyncio.gather(
        say("ana", {"role": "user", "content": "tea please"}),
        say("bo", {"role": "user", "content": "coffee please"}),
    )
    assert first == ["you like tea", "you like coffee"]
    # a client resending the whole conversation: the agent reads only the newest user message
    history = [
        {"role": "system", "content": "You are a pirate who loves mate."},
        {"role": "user", "content": "tea please"},
        {"role": "assistant", "content": "you like tea"},
        {"role": "user", "content": "what do I like?"},
    ]
    asked = len(llm.requests)
    assert await say("ana", *history) == "you like tea"
    seen = user_texts(llm.requests[asked][1])
    assert seen.count("tea please") == 1 and "what do I like?" in seen
    assert "pirate" not in json.dumps(llm.requests[asked][1])
    assert await say("bo", {"role": "user", "content": "what do I like?"}) == "you like coffee"

    async with live.client(live.viewer_key) as pm:
        keys = sorted([a.key async for a in pm.agents.list(platform="openai")])
    assert keys == ["openai:user:ana", "openai:user:bo"]
    messages = await live.svc.storage.recall.range("openai:user:ana", 0, 100)
    assert [m.content for m in messages if m.kind == "user_message"] == [
        "tea please",
        "what do I like?",
    ]


async def test_the_person_can_be_named_by_a_header(live: LiveApi) -> None:
    _, client = clients(live)
    reply = await client.chat.completions.create(
        model="pagemind",
        messages=[{"role": "user", "content": "mate"}],
        extra_headers={"X-Pagemind-User": "cy"},
    )
    assert reply.choices[0].message.content == "you like mate"
    assert await live.svc.storage.agents.load("openai:user:cy") is not None


async def test_refusals_take_openais_error_shape(live: LiveApi) -> None:
    _, admin = clients(live)
    _, viewer = clients(live, live.viewer_key)
    _, stranger = clients(live, "pm_000000000000_" + "x" * 43)
    hello = [{"role": "user", "content": "hello"}]

    assert [m.id for m in (await viewer.models.list()).data] == ["pagemind"]
    with pytest.raises(openai.PermissionDeniedError) as denied:
        await viewer.chat.completions.create(model="pagemind", user="ana", messages=hello)
    assert "viewer key" in denied.value.message
    assert denied.value.body["type"] == "permission_error"  # type: ignore[index]
    with pytest.raises(openai.AuthenticationError):
        await stranger.chat.completions.create(model="pagemind", user="ana", messages=hello)
    with pytest.raises(openai.BadRequestError) as no_user:
        await admin.chat.completions.create(model="pagemind", messages=hello)
    assert no_user.value.status_code == 400
    assert no_user.value.param == "user" and "user" in no_user.value.message
    with pytest.raises(openai.BadRequestError) as nothing:
        await admin.chat.completions.create(
            model="pagemind", user="ana", messages=[{"role": "system", "content": "hi"}]
        )
    assert nothing.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as bad_name:
        await admin.chat.completions.create(model="pagemind", user="a b", messages=hello)
    assert bad_name.value.param == "user"

    async with live.http(live.admin_key) as http:
        broken = await http.post(
            "/v1/chat/completions",
            content=b'{"model": "pagemind", "messages": [',
            headers={"content-type": "application/json"},
        )
        assert broken.status_code == 422
        error = broken.json()["error"]
        assert error["type"] == "invalid_request_error" and "not valid JSON" in error["message"]
        wrong = await http.post("/v1/chat/completions", json={"model": "pagemind", "user": "ana"})
        assert wrong.status_code == 422 and wrong.json()["error"]["param"] == "messages"
    assert await live.svc.storage.agents.load("openai:user:ana") is None  # nothing was sent


async def test_a_turn_that_fails_answers_with_what_the_person_would_be_told(
    llm: ScriptedOpenAIServer,
) -> None:
    llm.default = {"status": 400, "message": "the model refuses", "code": None, "headers": {}}
    async with live_api(llm) as live:
        _, client = clients(live)
        reply = await client.chat.completions.create(
            model="pagemind", user="ana", messages=[{"role": "user", "content": "hi"}]
        )
    content = reply.choices[0].message.content or ""
    assert content.startswith("Sorry, I couldn't answer just now")
    assert "Your message is saved" in content
    assert reply.usage is not None and reply.usage.total_tokens == 0  # no call succeeded


async def test_over_the_keys_rate_the_client_is_told_when_to_retry(
    llm: ScriptedOpenAIServer,
) -> None:
    async with live_api(llm, api_requests_per_minute=2) as live:
        _, client = clients(live)
        hello = [{"role": "user", "content": "tea"}]
        await client.chat.completions.create(model="pagemind", user="ana", messages=hello)
        await client.models.list()
        with pytest.raises(openai.RateLimitError) as limited:
            await client.chat.completions.create(model="pagemind", user="ana", messages=hello)
    assert int(limited.value.response.headers["Retry-After"]) >= 1
    assert limited.value.body["type"] == "rate_limit_error"  # type: ignore[index]


async def test_a_turn_of_several_steps_answers_with_all_it_sent_and_all_it_cost(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    _, client = clients(live)
    note = json.dumps({"label": "human", "content": "drinks tea", "request_heartbeat": True})
    llm.add(
        {"tool_calls": [("send_message", '{"message": "Noted."}'), ("core_memory_append", note)]},
        tool_reply("send_message", {"message": "Anything else?"}),
    )
    asked = len(llm.requests)
    reply = await client.chat.completions.create(
        model="pagemind", user="di", messages=[{"role": "user", "content": "remember: tea"}]
    )
    assert len(llm.requests) - asked == 2  # two model calls in the turn
    assert reply.choices[0].message.content == "Noted.\n\nAnything else?"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == model_usage(llm, asked)


async def test_a_slow_turn_answers_504_and_the_client_does_not_send_the_message_again(
    llm: ScriptedOpenAIServer,
) -> None:
    llm.delay = 1.5  # the model takes longer than the endpoint waits
    async with live_api(llm, api_chat_wait_seconds=0.3) as live:
        client = openai.AsyncOpenAI(base_url=f"{live.url}/v1", api_key=live.admin_key)
        async with client:  # its default retries: a 5xx is retried unless told not to
            with pytest.raises(openai.InternalServerError) as slow:
                await client.chat.completions.create(
                    model="pagemind", user="ana", messages=[{"role": "user", "content": "tea"}]
                )
        assert slow.value.status_code == 504
        assert "will be in the agent's messages" in slow.value.message
        recorded = await live.svc.storage.inbox.pending("openai:user:ana")
        assert len(recorded) == 1  # sent once: the client was told not to retry
        await live.svc.dispatcher.join()  # until the turn under way has ended
        messages = await live.svc.storage.recall.range("openai:user:ana", 0, 100)
        state = await live.svc.storage.agents.load("openai:user:ana")
    assert state is not None
    kept = (*messages, *state.unfiled)
    said = [m for m in kept if m.kind == "user_message"]
    assert [m.spoken_text() for m in kept if m.kind == "assistant"] == ["you like tea"]
    assert [m.content for m in said] == ["tea"]


async def test_a_spent_budget_answers_with_what_the_person_would_be_told(
    llm: ScriptedOpenAIServer,
) -> None:
    async with live_api(llm, daily_token_budget=1) as live:
        _, client = clients(live)
        hello = [{"role": "user", "content": "tea"}]
        first = await client.chat.completions.create(model="p", user="ana", messages=hello)
        assert first.choices[0].message.content == "you like tea"
        asked = len(llm.requests)
        second = await client.chat.completions.create(model="p", user="ana", messages=hello)
    assert len(llm.requests) == asked  # no model call
    assert second.choices[0].message.content == BUDGET_NOTICE
    assert second.usage is not None and second.usage.total_tokens == 0
