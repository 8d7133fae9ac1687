"""Sending a message to an agent as a person through the operator API: the replies after the
turn, or each step as a server-sent event while it runs; through the agent's inbox like a
platform's message; admin only; bad input refused. A live server, memory and nx-27017."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pagemind_client import (
    NotFoundError,
    Pagemind,
    PermissionDeniedError,
    ValidationError,
)
from pagemind_client import models as m
from tests.support.api import LiveApi, live_api
from tests.support.openai_server import ScriptedOpenAIServer, error_reply, tool_reply

KEY = "telegram:user:42"


@pytest.fixture
async def live(llm: ScriptedOpenAIServer, storage: str) -> AsyncIterator[LiveApi]:
    async with live_api(llm, storage) as api:
        await api.seed(KEY, ("persona", "a gardener's helper"), ("human", "Ana"))
        yield api


# the kinds of the steps of search_then_answer's turn
SEARCH_THEN_ANSWER_STEPS = [
    "thought",
    "function_call",
    "function_result",
    "thought",
    "function_call",
    "function_result",
    "reply",
]


def search_then_answer(llm: ScriptedOpenAIServer) -> None:
    search = {"query": "tomatoes", "request_heartbeat": True}
    llm.add(
        tool_reply("conversation_search", search, content="Did we talk about tomatoes?"),
        tool_reply("send_message", {"message": "Water them daily."}, content="Answer now."),
    )


async def test_a_message_gets_the_replies_and_every_step(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    search_then_answer(llm)
    async with live.client() as pm:
        sent = await pm.messages.send(KEY, "how do I keep tomatoes alive?", user_id="42")
        assert sent.replies == ["Water them daily."] and sent.error is None
        kinds = [s.kind for s in sent.steps]
        assert kinds == SEARCH_THEN_ANSWER_STEPS
        call = sent.steps[1]
        assert isinstance(call, m.FunctionCallStep) and call.name == "conversation_search"
        assert "tomatoes" in call.arguments
        result = sent.steps[2]
        assert isinstance(result, m.FunctionResultStep) and result.call_id == call.call_id
        # stored like a platform's message: in the log, with its author, through the inbox
        listed = [x async for x in pm.messages.list(KEY, role="user")]
        assert listed[0].text == "how do I keep tomatoes alive?" and listed[0].author_id == "42"
        assert listed[0].event_id == sent.event_id
        audit = [e async for e in pm.audit.list(agent=KEY)]
        assert audit[0].action == "messages.send" and "tomatoes" not in audit[0].summary
    assert not await live.svc.storage.inbox.pending(KEY)


async def test_a_turn_begun_by_another_worker_and_ended_here_is_answered_whole(
    live: LiveApi, llm: ScriptedOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A turn can begin on one worker and end on another (its lease was taken over): this
    process's feed then shows only the later steps. The answer is read back whole."""
    feed = live.api.services.insight.conversations.feed
    shown = feed.step_stored

    def first_step_elsewhere(agent_key: str, messages: Any) -> None:
        if any(message.kind == "user_message" for message in messages):
            return  # stored by the worker that began the turn: this feed never sees it
        shown(agent_key, messages)

    monkeypatch.setattr(feed, "step_stored", first_step_elsewhere)
    search_then_answer(llm)
    async with live.client() as pm:
        sent = await pm.messages.send(KEY, "how do I keep tomatoes alive?")
    assert sent.replies == ["Water them daily."]
    assert [s.kind for s in sent.steps] == SEARCH_THEN_ANSWER_STEPS


async def test_a_streamed_message_sends_each_step_as_it_is_stored(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    first_step_read, second_call = asyncio.Event(), asyncio.Event()

    async def answer_after_the_first_step_was_read(body: dict[str, Any]) -> dict[str, Any]:
        second_call.set()
        await first_step_read.wait()
        return tool_reply("send_message", {"message": "Water them daily."})

    search = {"query": "tomatoes", "request_heartbeat": True}
    llm.add(
        tool_reply("conversation_search", search, content="Let me look."),
        answer_after_the_first_step_was_read,
    )
    steps: list[m.TurnStep] = []
    async with live.client() as pm:
        async for step in pm.messages.stream(KEY, "tomatoes?"):
            steps.append(step)
            if len(steps) == 1:
                # the first step came while the turn was still waiting on the model
                assert not first_step_read.is_set()
                await asyncio.wait_for(second_call.wait(), 30)
                first_step_read.set()
    assert [s.kind for s in steps] == [
        "thought",
        "function_call",
        "function_result",
        "function_call",
        "function_result",
        "reply",
        "done",
    ]
    assert isinstance(steps[0], m.ThoughtStep) and steps[0].text == "Let me look."
    done = steps[-1]
    assert isinstance(done, m.DoneStep) and done.replies == ["Water them daily."]


async def test_raw_server_sent_events(live: LiveApi, llm: ScriptedOpenAIServer) -> None:
    llm.add(tool_reply("send_message", {"message": "hi!"}))
    async with live.http(live.admin_key) as http:
        response = await http.post(
            f"/api/agents/{KEY}/messages", params={"stream": "true"}, json={"text": "hello"}
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in response.text.split("\n\n") if e]
    assert [e.split("\n")[0] for e in events] == [
        "event: function_call",
        "event: function_result",
        "event: reply",
        "event: done",
    ]


async def test_a_failed_model_call_ends_the_turn_with_its_error(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    llm.add(error_reply(400, "this model cannot do that"))
    async with live.client() as pm:
        sent = await pm.messages.send(KEY, "hello")
    assert sent.replies == [] and sent.error is not None and "cannot do that" in sent.error


async def test_the_sync_client_sends_and_streams(live: LiveApi, llm: ScriptedOpenAIServer) -> None:
    llm.add(
        tool_reply("send_message", {"message": "one"}),
        tool_reply("send_message", {"message": "two"}),
    )

    def use() -> tuple[m.MessageSent, list[m.TurnStep]]:
        with Pagemind(live.url, live.admin_key) as pm:
            return pm.messages.send(KEY, "first"), list(pm.messages.stream(KEY, "second"))

    sent, steps = await asyncio.to_thread(use)
    assert sent.replies == ["one"]
    done = steps[-1]
    assert isinstance(done, m.DoneStep) and done.replies == ["two"]


async def test_sending_is_refused_clearly(live: LiveApi) -> None:
    async with live.client(live.viewer_key) as viewer:
        with pytest.raises(PermissionDeniedError):
            await viewer.messages.send(KEY, "hello")
    async with live.client() as pm:
        with pytest.raises(NotFoundError, match="no agent"):
            await pm.messages.send("telegram:user:404", "hello")
        with pytest.raises(NotFoundError):
            [s async for s in pm.messages.stream("telegram:user:404", "hello")]
        with pytest.raises(ValidationError) as bad:
            await pm.messages.send(KEY, "   ")
        assert bad.value.field == "text"
    async with live.http(live.admin_key) as http:
        path = f"/api/agents/{KEY}/messages"
        response = await http.post(path, content=b"{not json", headers={"Content-Type": "x"})
        assert response.status_code == 422
        response = await http.post(path, json={"text": 5})
        assert response.status_code == 422 and response.json()["error"]["field"] == "text"
        response = await http.post(path, json={"text": "hi", "colour": "red"})
        assert response.status_code == 422 and response.json()["error"]["field"] == "colour"
    state = await live.svc.storage.agents.load(KEY)
    assert state is not None and state.last_seq == 0, "nothing refused reached the agent"
