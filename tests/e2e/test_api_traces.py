"""Traces of past turns through the operator API ("why did it say that"): each model call's
exact request rebuilt from stored data and compared byte for byte with what the model
server received, its tokens, output, function calls with results, durations and search
hits with scores; failed calls too. A live server on memory and nx-27017."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from pagemind_client import AsyncPagemind, NotFoundError, ValidationError
from pagemind_client import models as m
from tests.support.api import LiveApi, live_api
from tests.support.openai_server import ScriptedOpenAIServer, error_reply, tool_reply

KEY = "telegram:user:42"


@pytest.fixture
async def live(llm: ScriptedOpenAIServer, storage: str) -> AsyncIterator[LiveApi]:
    async with live_api(llm, storage) as api:
        yield api


def say(text: str, thoughts: str | None = None) -> dict:  # type: ignore[type-arg]
    return tool_reply("send_message", {"message": text}, content=thoughts)


async def every_call(pm: AsyncPagemind, key: str) -> list[m.TurnStepTrace]:
    """Every model call of the agent's turns, oldest first."""
    turns = [t async for t in pm.turns.list(key, page_size=2)]
    calls: list[m.TurnStepTrace] = []
    for summary in reversed(turns):
        calls += (await pm.turns.get(key, summary.id)).model_calls
    return calls


async def test_each_rebuilt_request_is_byte_for_byte_what_the_model_received(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    llm.add(say("Hi Ana!", "A new person."))
    await live.talk(KEY, "hi, I am Ana and I grow tomatoes")
    remember = {"label": "human", "content": "Ana grows tomatoes.", "request_heartbeat": True}
    llm.add(
        tool_reply("core_memory_append", remember, content="Worth keeping."),
        tool_reply("conversation_search", {"query": "tomatoes", "request_heartbeat": True}),
        say("You grow tomatoes!"),
    )
    await live.talk(KEY, "what do I grow? ünïcödé ✓")
    llm.add(say("Bye!"))
    await live.talk(KEY, "bye")
    async with live.client(live.viewer_key) as pm:
        calls = await every_call(pm, KEY)
    received = [raw for raw, _ in llm.raw_requests]
    assert len(calls) == len(received) == 5
    for call, raw in zip(calls, received, strict=True):
        assert call.prompt.request_body is not None
        assert call.prompt.request_body.encode() == raw
        assert not call.prompt.tools_changed and call.error is None
        assert call.tokens.total == sum(
            getattr(call.tokens, part)
            for part in (
                "instructions",
                "tools",
                "reply_priming",
                "working_context",
                "summary",
                "messages",
            )
        )
        assert call.prompt_tokens == len(json.dumps(json.loads(raw))) // 4  # as the server said
        assert call.completion_tokens == 12 and call.latency_ms >= 0
    assert [c.prompt.first_message for c in calls] == [1] * 5
    assert [c.prompt.last_message for c in calls] == [1, 4, 6, 8, 11]


async def test_a_turn_shows_its_calls_results_durations_and_search_scores(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    llm.add(say("Noted."))
    await live.talk(KEY, "my tomatoes have blight")
    async with live.client() as pm:
        await pm.archival.insert(KEY, "Blight on tomatoes: remove the leaves, water at the base.")
        look = {"query": "blight", "request_heartbeat": True}
        llm.add(
            tool_reply("archival_memory_search", look, content="?"),
            tool_reply("conversation_search", look),
            say("Remove the leaves."),
        )
        await live.talk(KEY, "what do I do about blight?")
        (latest, first) = [t async for t in pm.turns.list(KEY)]
        assert first.started_by.text == "my tomatoes have blight" and first.replies == ["Noted."]
        assert latest.replies == ["Remove the leaves."] and latest.steps == 3
        assert latest.tokens > 0 and latest.error is None
        turn = await pm.turns.get(KEY, latest.id)
    assert turn.event_id == latest.event_id and turn.started_by.author_id == "42"
    search, recall, answer = turn.model_calls
    (archival,) = search.calls
    assert archival.name == "archival_memory_search" and "blight" in archival.arguments
    assert archival.result is not None and "remove the leaves" in archival.result.lower()
    assert archival.duration_ms is not None and archival.duration_ms >= 0
    (hit,) = archival.hits
    assert hit.score is not None and hit.score > 0 and hit.id.startswith("operator:")
    (words,) = recall.calls
    # both messages about blight, best first, each with its BM25 score
    assert [h.id for h in words.hits] == [str(latest.started_by.id), str(first.started_by.id)]
    assert all(h.score is not None and h.score > 0 for h in words.hits)
    assert search.thoughts == "?" and answer.calls[0].name == "send_message"
    assert [x.id for x in turn.messages] == list(range(4, 11))  # message, 3 x (answer, result)


async def test_a_failed_call_leaves_a_trace(live: LiveApi, llm: ScriptedOpenAIServer) -> None:
    llm.add(say("Hello."), error_reply(400, "this model cannot do that"))
    await live.talk(KEY, "hi")
    await live.talk(KEY, "now fail please")
    async with live.client(live.viewer_key) as pm:
        latest = (await pm.turns.page(KEY, limit=1)).items[0]
        assert latest.error is not None and "cannot do that" in latest.error
        assert latest.replies == [] and latest.steps == 1
        turn = await pm.turns.get(KEY, latest.id)
    (failed,) = turn.model_calls
    assert failed.message_id is None and failed.error is not None
    assert failed.prompt.request_body is not None
    assert failed.prompt.request_body.encode() == llm.raw_requests[-1][0]


async def test_a_plain_message_writes_no_system_text_again(
    llm: ScriptedOpenAIServer,
) -> None:
    """The system text is stored once per distinct text: a plain message shows the same
    one as the last and adds no write."""
    async with live_api(llm, "memory") as live:
        texts = live.svc.storage.system_texts
        llm.default = say("ok")
        await live.talk(KEY, "one")
        assert texts.puts == 1  # type: ignore[attr-defined]
        await live.talk(KEY, "two")
        await live.talk(KEY, "three")
        assert texts.puts == 1  # type: ignore[attr-defined]


async def test_turns_are_paged_and_kept_to_their_agent(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    llm.default = say("ok")
    for n in range(5):
        await live.talk(KEY, f"message {n}")
    await live.talk("telegram:user:7", "someone else", author="7")
    async with live.client(live.viewer_key) as pm:
        seen: list[str] = []
        page = await pm.turns.page(KEY, limit=2)
        seen += [t.started_by.text for t in page.items]
        while page.next_cursor is not None:
            await live.talk(KEY, "newer")  # a turn between two reads shifts nothing
            page = await pm.turns.page(KEY, limit=2, cursor=page.next_cursor)
            seen += [t.started_by.text for t in page.items]
        assert seen == [f"message {n}" for n in range(4, -1, -1)]
        theirs = [t async for t in pm.turns.list("telegram:user:7")]
        assert [t.started_by.text for t in theirs] == ["someone else"]
        # another agent's turn id names nothing of this one's beyond its own log
        ours = [t.id for t in [t async for t in pm.turns.list(KEY)]]
        with pytest.raises(NotFoundError):
            await pm.turns.get("telegram:user:7", ours[0])
        with pytest.raises(NotFoundError):
            await pm.turns.get(KEY, "2")  # not a turn's first message
        with pytest.raises(NotFoundError):
            await pm.turns.get(KEY, "not-a-number")
        with pytest.raises(NotFoundError, match="no agent"):
            await pm.turns.get("telegram:user:404", "1")
        with pytest.raises(ValidationError) as bad:
            await pm.turns.page(KEY, cursor="garbage")
        assert bad.value.field == "cursor"
