"""An agent's messages through the operator API: newest first with inner thoughts, function
calls and their results, by role, dates and words (the agent's own recall search), keyset
pages, bad input, and no other agent's messages. A live server on memory and nx-27017."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from pagemind_client import NotFoundError, ValidationError
from tests.support.api import LiveApi, live_api
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply


@pytest.fixture
async def live(llm: ScriptedOpenAIServer, storage: str) -> AsyncIterator[LiveApi]:
    async with live_api(llm, storage) as api:
        yield api


def say(text: str, thoughts: str | None = None) -> dict:  # type: ignore[type-arg]
    return tool_reply("send_message", {"message": text}, content=thoughts)


async def collect(items: AsyncIterator) -> list:  # type: ignore[type-arg]
    return [item async for item in items]


async def test_messages_newest_first_with_thoughts_calls_and_results(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    key = "telegram:user:42"
    llm.add(say("Nice to meet you, Ana!", "The person is called Ana."))
    await live.talk(key, "hi, I am Ana and I grow tomatoes")
    llm.add(say("Tomatoes need sun.", "Answer the gardening question."))
    await live.talk(key, "what do tomatoes need?")
    async with live.client(live.viewer_key) as pm:
        listed = await collect(pm.messages.list(key))
    assert [m.id for m in listed] == [6, 5, 4, 3, 2, 1]
    assert [m.role for m in listed] == ["tool", "assistant", "user"] * 2
    reply = listed[1]
    assert reply.text == "Tomatoes need sun." and reply.thoughts == "Answer the gardening question."
    (call,) = reply.calls
    assert call.name == "send_message" and "Tomatoes need sun." in call.arguments
    assert call.result is not None and call.result == listed[0].text
    assert listed[0].call_id == call.id and listed[0].function == "send_message"
    person = listed[5]
    assert person.text == "hi, I am Ana and I grow tomatoes" and person.author_id == "42"
    assert person.kind == "user_message" and person.at.tzinfo is not None


async def test_messages_by_role_words_and_dates(live: LiveApi, llm: ScriptedOpenAIServer) -> None:
    key = "telegram:user:42"
    before = datetime.now(UTC) - timedelta(seconds=1)  # (MongoDB keeps milliseconds)
    texts = ["my cat is called Miso", "I like rain", "Miso sleeps all day"]
    for text, weather in zip(texts, ["sunny", "cloudy", "windy"], strict=True):
        llm.add(say(f"reply {weather}"))
        await live.talk(key, text)
    async with live.client(live.viewer_key) as pm:
        people = await collect(pm.messages.list(key, role="user"))
        assert [m.text for m in people] == [
            "Miso sleeps all day",
            "I like rain",
            "my cat is called Miso",
        ]
        found = await collect(pm.messages.list(key, q="miso"))
        assert [m.text for m in found] == ["Miso sleeps all day", "my cat is called Miso"]
        # what the agent said is searched too, the last step's reply included (it is not in
        # recall storage yet: it travels in the agent state until the next message)
        assert [m.text for m in await collect(pm.messages.list(key, q="windy"))] == ["reply windy"]
        said = await collect(pm.messages.list(key, q="reply", role="assistant"))
        assert [m.text for m in said] == ["reply windy", "reply cloudy", "reply sunny"]
        results = await collect(pm.messages.list(key, role="tool"))
        assert len(results) == 3 and all(m.function == "send_message" for m in results)
        later = datetime.now(UTC) + timedelta(minutes=1)
        assert await collect(pm.messages.list(key, since=later)) == []
        every = await collect(pm.messages.list(key, since=before, until=later))
        assert len(every) == 9
        assert await collect(pm.messages.list(key, until=before)) == []


async def test_pages_never_overlap_or_skip_while_the_agent_talks(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    key = "telegram:user:42"
    for n in range(5):
        llm.add(say(f"answer {n}"))
        await live.talk(key, f"question {n}")
    seen: list[int] = []
    async with live.client(live.viewer_key) as pm:
        page = await pm.messages.page(key, limit=4)
        seen += [m.id for m in page.items]
        while page.next_cursor is not None:
            llm.add(say("more"))
            await live.talk(key, "more")  # newer messages arrive between two reads
            page = await pm.messages.page(key, limit=4, cursor=page.next_cursor)
            seen += [m.id for m in page.items]
    assert seen == list(range(15, 0, -1)), "every message once, none skipped"


async def test_messages_of_another_agent_never_show(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    llm.add(say("noted"), say("noted too"))
    await live.talk("telegram:user:1", "my secret word is pineapple")
    await live.talk("telegram:user:2", "I like apples", author="2")
    async with live.client(live.viewer_key) as viewer, live.client() as admin:
        for pm in (viewer, admin):
            assert await collect(pm.messages.list("telegram:user:2", q="pineapple")) == []
            theirs = await collect(pm.messages.list("telegram:user:2"))
            assert {m.text for m in theirs if m.role == "user"} == {"I like apples"}


async def test_bad_message_queries_are_refused_clearly(live: LiveApi) -> None:
    await live.seed("telegram:user:7", ("human", "x"))
    async with live.client(live.viewer_key) as pm:
        with pytest.raises(NotFoundError, match="no agent"):
            await pm.messages.page("telegram:user:404")
        with pytest.raises(ValidationError) as bad:
            await pm.messages.page("telegram:user:7", role="robot")
        assert bad.value.field == "role"
        with pytest.raises(ValidationError) as bad:
            await pm.messages.page("telegram:user:7", cursor="not-a-cursor")
        assert bad.value.field == "cursor"
        with pytest.raises(ValidationError) as bad:
            await pm.messages.page("telegram:user:7", q="the", role="tool")
        assert bad.value.field == "q"
    async with live.http(live.viewer_key) as http:
        response = await http.get("/api/agents/telegram:user:7/messages", params={"limit": 0})
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "limit"
        response = await http.get("/api/agents/telegram:user:7/messages", params={"since": "x"})
        assert response.status_code == 422 and response.json()["error"]["field"] == "since"
    async with live.http() as anonymous:
        response = await anonymous.get("/api/agents/telegram:user:7/messages")
        assert response.status_code == 401
