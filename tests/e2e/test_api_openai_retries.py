"""Retries on the OpenAI-compatible endpoint: a request sent again with the same
``Idempotency-Key`` (after a timeout, a dropped connection, a load balancer's retry) is the
same message, heard by the agent once, and gets the first request's answer. Driven with the
official ``openai`` client against a live server built by the composition root."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import openai
import pytest

from tests.e2e.test_api_openai import remembers
from tests.support.api import LiveApi, live_api
from tests.support.openai_server import Held, ScriptedOpenAIServer, tool_reply

AGENT = "openai:user:ana"


@pytest.fixture
async def live(
    llm: ScriptedOpenAIServer, storage: str
) -> AsyncIterator[tuple[LiveApi, ScriptedOpenAIServer]]:
    async with live_api(llm, storage) as api:
        yield api, llm


@pytest.fixture
async def llm() -> AsyncIterator[ScriptedOpenAIServer]:
    async with ScriptedOpenAIServer(default=remembers) as server:
        yield server


@pytest.fixture
async def client(
    live: tuple[LiveApi, ScriptedOpenAIServer],
) -> AsyncIterator[openai.AsyncOpenAI]:
    api, _ = live
    async with openai.AsyncOpenAI(
        base_url=f"{api.url}/v1", api_key=api.admin_key, max_retries=0
    ) as made:
        yield made


async def say(client: openai.AsyncOpenAI, text: str, key: str | None, user: str = "ana") -> object:
    return await client.chat.completions.create(
        model="pagemind",
        user=user,
        messages=[{"role": "user", "content": text}],
        extra_headers={"Idempotency-Key": key} if key else None,
    )


async def test_a_retry_gets_the_first_answer_and_the_agent_hears_the_message_once(
    live: tuple[LiveApi, ScriptedOpenAIServer], client: openai.AsyncOpenAI
) -> None:
    api, llm = live
    first = await say(client, "I drink tea", "order-1")
    calls = len(llm.requests)
    again = await say(client, "I drink tea", "order-1")
    assert len(llm.requests) == calls  # no second turn
    assert again == first  # same id, created, reply and usage
    await api.svc.storage.inbox.purge(timedelta(0))  # the inbox forgets handled events
    assert await say(client, "I drink tea", "order-1") == first
    assert len(llm.requests) == calls
    assert first.choices[0].message.content == "you like tea"  # type: ignore[attr-defined]
    other = await say(client, "and mate", "order-2")
    assert other.choices[0].message.content == "you like tea and mate"  # type: ignore[attr-defined]
    assert await api.persons_messages(AGENT) == ["I drink tea", "and mate"]


async def test_a_retry_while_the_first_request_is_still_answered_waits_for_its_answer(
    live: tuple[LiveApi, ScriptedOpenAIServer], client: openai.AsyncOpenAI
) -> None:
    api, llm = live
    llm.default = slow = Held(remembers)  # the model is still thinking when the retry comes
    first = asyncio.create_task(say(client, "I drink tea", "order-1"))
    async with asyncio.timeout(30):
        await slow.reached.wait()
        with logged("duplicate event dropped") as refused:
            again = asyncio.create_task(say(client, "I drink tea", "order-1"))
            await refused.wait()  # the retry is in, refused as the same message
        slow.release.set()
        assert await again == await first
    assert len(llm.requests) == 1
    assert await api.persons_messages(AGENT) == ["I drink tea"]


@contextlib.contextmanager
def logged(message: str) -> Iterator[asyncio.Event]:
    """An event set when this process logs ``message`` (any logger)."""
    seen = asyncio.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == message:
                seen.set()

    root, handler = logging.getLogger(), Watch(logging.INFO)
    level = root.level
    root.addHandler(handler)
    if level == logging.NOTSET or level > logging.INFO:
        root.setLevel(logging.INFO)
    try:
        yield seen
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_a_key_used_for_another_message_is_refused_and_nothing_is_sent(
    live: tuple[LiveApi, ScriptedOpenAIServer], client: openai.AsyncOpenAI
) -> None:
    api, llm = live
    await say(client, "I drink tea", "order-1")
    calls = len(llm.requests)
    with pytest.raises(openai.ConflictError) as other_text:
        await say(client, "I drink coffee", "order-1")
    assert "Idempotency-Key was already used" in other_text.value.message
    with pytest.raises(openai.ConflictError):
        await say(client, "I drink tea", "order-1", user="bo")  # another person's agent
    assert len(llm.requests) == calls
    assert await api.persons_messages(AGENT) == ["I drink tea"]
    assert await api.svc.storage.agents.load("openai:user:bo") is None
    with pytest.raises(openai.UnprocessableEntityError) as bad:
        await say(client, "I drink tea", "x" * 256)
    assert bad.value.param == "Idempotency-Key"
    async with api.http(api.admin_key) as http:  # an empty key is no key: refused too
        ask = {"model": "pagemind", "user": "ana", "messages": [{"role": "user", "content": "hi"}]}
        empty = await http.post("/v1/chat/completions", json=ask, headers={"Idempotency-Key": ""})
    assert empty.status_code == 422 and len(llm.requests) == calls


async def test_the_same_key_from_another_api_key_is_another_message(
    live: tuple[LiveApi, ScriptedOpenAIServer], client: openai.AsyncOpenAI
) -> None:
    api, llm = live
    await say(client, "I drink tea", "order-1")
    _, second_admin = await api.api.services.keys.create("bob (admin)", "admin")
    async with openai.AsyncOpenAI(
        base_url=f"{api.url}/v1", api_key=second_admin, max_retries=0
    ) as theirs:
        reply = await say(theirs, "and mate", "order-1")
    assert reply.choices[0].message.content == "you like tea and mate"  # type: ignore[attr-defined]
    assert len(llm.requests) == 2


async def test_a_retry_of_a_message_the_agent_could_not_answer_gets_the_same_notice(
    live: tuple[LiveApi, ScriptedOpenAIServer], client: openai.AsyncOpenAI
) -> None:
    api, llm = live
    llm.default = {"status": 400, "message": "the model refuses", "code": None, "headers": {}}
    first = await say(client, "I drink tea", "order-1")
    calls = len(llm.requests)
    assert first.choices[0].message.content.startswith("Sorry, I couldn't answer")  # type: ignore[attr-defined]
    assert await say(client, "I drink tea", "order-1") == first
    assert len(llm.requests) == calls
    assert await api.persons_messages(AGENT) == ["I drink tea"]


async def test_with_a_key_the_client_may_retry_a_slow_turn_and_gets_its_answer(
    llm: ScriptedOpenAIServer,
) -> None:
    """Without a key a 504 says "do not retry" (it would send the message twice); with one a
    retry is the same message, so the client is left to retry, and the retry is answered."""
    llm.default = slow = Held(remembers)
    async with live_api(llm, api_chat_wait_seconds=0.3) as api, api.http(api.admin_key) as http:
        ask = {"model": "pagemind", "user": "ana", "messages": [{"role": "user", "content": "tea"}]}
        keyed = {"Idempotency-Key": "order-1"}
        slow_answer = await http.post("/v1/chat/completions", json=ask, headers=keyed)
        assert slow_answer.status_code == 504
        assert "x-should-retry" not in slow_answer.headers
        slow.release.set()
        for _ in range(50):  # as the client would: again while the turn is still running
            retried = await http.post("/v1/chat/completions", json=ask, headers=keyed)
            if retried.status_code != 504:
                break
        assert retried.status_code == 200
        assert retried.json()["choices"][0]["message"]["content"] == "you like tea"
        assert len(llm.requests) == 1
        reused = await http.post("/v1/chat/completions", json=ask | {"user": "bo"}, headers=keyed)
        assert reused.status_code == 409 and reused.headers["x-should-retry"] == "false"


async def test_a_retry_between_two_steps_of_the_first_turn_waits_for_the_whole_turn(
    live: tuple[LiveApi, ScriptedOpenAIServer], client: openai.AsyncOpenAI
) -> None:
    """The first step (a memory edit asking to go on) is stored, the second is at the model:
    the retry answers with the whole turn's reply and usage, not the first step's."""
    api, llm = live
    note = {"label": "human", "content": "drinks tea", "request_heartbeat": True}
    llm.add(tool_reply("core_memory_append", note))
    llm.default = second = Held(remembers)
    first = asyncio.create_task(say(client, "I drink tea", "order-1"))
    async with asyncio.timeout(30):
        await second.reached.wait()
        with logged("duplicate event dropped") as refused:
            again = asyncio.create_task(say(client, "I drink tea", "order-1"))
            await refused.wait()
        second.release.set()
        assert await again == await first
    assert first.result().choices[0].message.content == "you like tea"  # type: ignore[attr-defined]
    assert len(llm.requests) == 2
    assert await api.persons_messages(AGENT) == ["I drink tea"]
