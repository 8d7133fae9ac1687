"""Retries of ``POST /api/agents/{key}/messages``: a message sent again with the same
``Idempotency-Key`` (after a timeout or a dropped connection) is sent once, and the retry
answers with the first turn's steps and replies; the same key for another message is
refused. Driven with our Python client against a live server built by the composition root,
on both stores."""

from __future__ import annotations

import asyncio

import pytest

from core.operator.conversation import Outgoing, TurnDone, TurnStep
from core.operator.idempotency import REUSED
from pagemind_client import ConflictError, ValidationError
from pagemind_client import models as m
from tests.e2e import test_api_send
from tests.e2e.test_api_openai_retries import logged
from tests.e2e.test_api_send import KEY, search_then_answer
from tests.support.api import LiveApi
from tests.support.openai_server import Held, ScriptedOpenAIServer, error_reply, tool_reply

live = test_api_send.live  # the fixture: a live API on each store, KEY seeded


async def test_a_retry_gets_the_first_turn_and_the_agent_hears_the_message_once(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    search_then_answer(llm)
    async with live.client() as pm:
        first = await pm.messages.send(KEY, "tomatoes?", user_id="42", idempotency_key="k-1")
        calls = len(llm.requests)
        again = await pm.messages.send(KEY, "tomatoes?", user_id="42", idempotency_key="k-1")
        streamed = [
            s
            async for s in pm.messages.stream(KEY, "tomatoes?", user_id="42", idempotency_key="k-1")
        ]
        assert len(llm.requests) == calls == 2  # no second turn
        assert again == first and first.replies == ["Water them daily."]
        assert [s.kind for s in streamed] == [s.kind for s in first.steps] + ["done"]
        assert streamed[:-1] == first.steps
        done = streamed[-1]
        assert isinstance(done, m.DoneStep) and done.event_id == first.event_id
        assert done.replies == first.replies
        # a new key is a new message
        llm.add(tool_reply("send_message", {"message": "Yes, daily."}))
        other = await pm.messages.send(KEY, "really?", user_id="42", idempotency_key="k-2")
        assert other.replies == ["Yes, daily."] and other.event_id != first.event_id
        sends = [e async for e in pm.audit.list(agent=KEY) if e.action == "messages.send"]
        assert [e.summary.endswith("(sent again)") for e in sends] == [False, True, True, False]
    assert await live.persons_messages(KEY) == ["tomatoes?", "really?"]


async def test_a_retry_while_the_first_turn_runs_waits_for_it(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    slow = Held(tool_reply("send_message", {"message": "Water them daily."}))
    llm.add(slow)  # the model is still thinking when the retry comes
    async with live.client() as pm:
        first = asyncio.create_task(pm.messages.send(KEY, "tomatoes?", idempotency_key="k-1"))
        async with asyncio.timeout(30):
            await slow.reached.wait()
            with logged(
                "message sent again with its idempotency key: answering with its first turn"
            ) as waiting:
                again = asyncio.create_task(
                    pm.messages.send(KEY, "tomatoes?", idempotency_key="k-1")
                )
                await waiting.wait()
            slow.release.set()
            assert await again == await first
    assert (await first).replies == ["Water them daily."]
    assert len(llm.requests) == 1
    assert await live.persons_messages(KEY) == ["tomatoes?"]


async def test_a_retry_of_a_failed_turn_gets_its_error(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    llm.add(error_reply(400, "this model cannot do that"))
    async with live.client() as pm:
        first = await pm.messages.send(KEY, "hello", idempotency_key="k-1")
        again = await pm.messages.send(KEY, "hello", idempotency_key="k-1")
    assert first.replies == again.replies == []
    assert first.error is not None and "cannot do that" in first.error
    assert again.error is not None and "cannot do that" in again.error
    assert again.event_id == first.event_id
    assert len(llm.requests) == 1


async def test_a_key_used_for_another_message_is_refused_and_nothing_is_sent(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    llm.add(tool_reply("send_message", {"message": "Noted."}))
    async with live.client() as pm:
        await pm.messages.send(KEY, "I grow tomatoes", user_id="42", idempotency_key="k-1")
        with pytest.raises(ConflictError, match="Idempotency-Key was already used"):
            await pm.messages.send(KEY, "I grow roses", user_id="42", idempotency_key="k-1")
        with pytest.raises(ConflictError):  # another person
            await pm.messages.send(KEY, "I grow tomatoes", user_id="7", idempotency_key="k-1")
        with pytest.raises(ConflictError):  # refused before the stream begins
            [
                s
                async for s in pm.messages.stream(
                    KEY, "I grow roses", user_id="42", idempotency_key="k-1"
                )
            ]
        with pytest.raises(ValidationError) as bad:
            await pm.messages.send(KEY, "I grow roses", idempotency_key="x" * 256)
        assert bad.value.field == "Idempotency-Key"
    assert len(llm.requests) == 1
    assert await live.persons_messages(KEY) == ["I grow tomatoes"]


async def test_the_same_key_from_another_api_key_is_another_message(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    llm.add(
        tool_reply("send_message", {"message": "one"}),
        tool_reply("send_message", {"message": "two"}),
    )
    _, second_admin = await live.api.services.keys.create("bob (admin)", "admin")
    async with live.client() as pm, live.client(second_admin) as theirs:
        first = await pm.messages.send(KEY, "hello", idempotency_key="k-1")
        other = await theirs.messages.send(KEY, "hello", idempotency_key="k-1")
    assert (first.replies, other.replies) == (["one"], ["two"])
    assert await live.persons_messages(KEY) == ["hello", "hello"]


async def both_at_once(
    live: LiveApi, first: str, second: str
) -> tuple[list[TurnStep | TurnDone], list[TurnStep | TurnDone]]:
    """Two requests with one key, both checked before either is sent (as when they arrive at
    the same instant), then both sent: each one's steps and end."""
    talk = live.api.services.insight.conversations
    caller = await live.api.services.keys.authenticate(live.admin_key)
    one = await talk.start(caller, KEY, first, idempotency_key="k-1")
    two = await talk.start(caller, KEY, second, idempotency_key="k-1")
    assert not one.again and not two.again  # neither knows of the other yet

    async def steps(outgoing: Outgoing) -> list[TurnStep | TurnDone]:
        return [s async for s in talk.run(outgoing)]

    with logged("duplicate event dropped") as refused:
        both = await asyncio.gather(steps(one), steps(two))
    assert refused.is_set(), "one of them was refused by the inbox"
    return both


async def test_two_requests_with_one_key_at_once_send_the_message_once(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    search_then_answer(llm)
    one, two = await both_at_once(live, "tomatoes?", "tomatoes?")
    assert one == two
    done = one[-1]
    assert isinstance(done, TurnDone) and done.replies == ("Water them daily.",)
    assert [s.kind for s in one[:-1] if isinstance(s, TurnStep)][-1] == "reply"
    assert len(llm.requests) == 2  # one turn: a search, then the answer
    assert await live.persons_messages(KEY) == ["tomatoes?"]


async def test_two_messages_with_one_key_at_once_the_second_gets_nothing_of_the_first(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    search_then_answer(llm)
    one, two = await both_at_once(live, "tomatoes?", "roses?")
    answered, refused = (one, two) if len(one) > 1 else (two, one)
    assert isinstance(answered[-1], TurnDone)
    assert answered[-1].replies == ("Water them daily.",)
    assert refused == [TurnDone(refused[-1].event_id, (), REUSED)]  # type: ignore[union-attr]
    assert len(await live.persons_messages(KEY)) == 1


async def test_a_key_is_its_agents_alone(live: LiveApi, llm: ScriptedOpenAIServer) -> None:
    other = "telegram:user:43"
    await live.seed(other, ("persona", "a gardener's helper"), ("human", "Bo"))
    llm.add(
        tool_reply("send_message", {"message": "one"}),
        tool_reply("send_message", {"message": "two"}),
    )
    async with live.client() as pm:
        first = await pm.messages.send(KEY, "hello", idempotency_key="k-1")
        theirs = await pm.messages.send(other, "hello", idempotency_key="k-1")
        with pytest.raises(ValidationError) as empty:
            await pm.messages.send(KEY, "hello", idempotency_key="")
        assert empty.value.field == "Idempotency-Key"
    assert (first.replies, theirs.replies) == (["one"], ["two"])
    assert await live.persons_messages(KEY) == ["hello"]
