"""The agent turn, driven through a scripted model and in-memory stores."""

from __future__ import annotations

import json

import pytest

from core.errors import ContextWindowExceededError, LLMUnavailableError
from core.events import Address, TimerFired, UploadCompleted
from tests.support.agents import Harness
from tests.support.scripted import ScriptedModel, call, calls, raw_call, say, text


async def test_send_message_reaches_the_user_and_yields() -> None:
    model = ScriptedModel([say("Hello!")])
    h = Harness(model)
    outcome = await h.send("hi")
    assert h.sink.texts == ["Hello!"]
    assert outcome.steps == 1
    assert len(model.requests) == 1  # send_message ends the chain: no second LLM call


async def test_heartbeat_chains_until_a_function_yields() -> None:
    model = ScriptedModel(
        [
            call("archival_memory_insert", content="Ana likes tea", request_heartbeat=True),
            call("archival_memory_search", query="tea", request_heartbeat=True),
            say("Noted: tea."),
        ]
    )
    h = Harness(model)
    outcome = await h.send("remember I like tea")
    assert outcome.steps == 3
    assert h.sink.texts == ["Noted: tea."]
    # the second step saw the first step's result, the third saw the search results
    assert model.requests[1].messages[-1].content == "Saved."
    assert "Ana likes tea" in model.requests[2].messages[-1].content


async def test_function_without_heartbeat_ends_the_turn_silently() -> None:
    model = ScriptedModel(
        [call("core_memory_append", label="human", content="x", request_heartbeat=False)]
    )
    h = Harness(model)
    outcome = await h.send("note this")
    assert outcome.steps == 1 and h.sink.texts == []
    assert len(model.requests) == 1


async def test_chain_is_capped_and_the_agent_is_told() -> None:
    model = ScriptedModel(default=call("archival_memory_search", query="x", request_heartbeat=True))
    h = Harness(
        model,
        settings=__import__("core.turn.settings", fromlist=["AgentSettings"]).AgentSettings(
            max_steps=4
        ),
    )
    outcome = await h.send("loop forever")
    assert outcome.steps == 4 and len(model.requests) == 4
    session = await h.runtime.session("agent-1")
    assert (
        session.fifo[-1].kind == "system_alert"
        and "stopped after 4 steps" in session.fifo[-1].content
    )
    assert not session.state.chain_open


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (call("no_such_function", x=1), "there is no function 'no_such_function'"),
        (raw_call("core_memory_append", '{"label": "human", "content": '), "not valid JSON"),
        (raw_call("core_memory_append", "[1, 2]"), "must be a JSON object"),
        (call("core_memory_append", label="human"), "content: Field required"),
        (
            call("conversation_search", query="x", page="two"),
            "page: Input should be a valid integer",
        ),
        (
            call("core_memory_replace", label="human", old_content="absent", new_content="y"),
            "was not found",
        ),
    ],
)
async def test_a_failed_call_returns_the_error_to_the_model_with_a_heartbeat(
    response, error
) -> None:
    model = ScriptedModel([response, say("sorry, fixed")])
    h = Harness(model)
    await h.send("do it")
    assert len(model.requests) == 2, "a failed call must give the model another step"
    result = model.requests[1].messages[-1]
    assert (
        result.role == "tool" and result.content.startswith("Failed: ") and error in result.content
    )
    assert h.sink.texts == ["sorry, fixed"]


async def test_an_exception_inside_a_tool_becomes_a_failed_result() -> None:
    from core.tools.memgpt import register_memgpt_tools
    from core.tools.registry import ToolRegistry

    def explode(city: str) -> str:
        """Look up the weather.

        Args:
            city: the city
        """
        raise RuntimeError(f"weather service down for {city}")

    registry = register_memgpt_tools(ToolRegistry())
    registry.register(explode)
    model = ScriptedModel(
        [call("explode", city="Oslo", request_heartbeat=False), say("It failed.")]
    )
    h = Harness(model, tools=registry)
    await h.send("weather?")
    assert (
        "explode raised RuntimeError: weather service down for Oslo"
        in model.requests[1].messages[-1].content
    )


async def test_plain_text_answer_still_reaches_the_user_and_is_recorded() -> None:
    model = ScriptedModel([text("Hi, I'm a small local model."), say("Yes.")])
    h = Harness(model)
    await h.send("hello")
    assert h.sink.texts == ["Hi, I'm a small local model."]
    await h.send("are you?")  # the answer reaches recall with the next message
    page = await h.recall.search(
        "agent-1",
        __import__("core.records", fromlist=["RecallQuery"]).RecallQuery(text="small local model"),
    )
    assert [m.kind for m in page.items] == ["assistant"]
    # the transcript shows a proper send_message call, so the model learns the pattern
    session = await h.runtime.session("agent-1")
    assert session.fifo[1].tool_calls[0].name == "send_message"
    assert session.fifo[2].kind == "tool_result"


async def test_inner_thoughts_are_not_sent() -> None:
    model = ScriptedModel(
        [calls(("send_message", {"message": "Hi!"}), thoughts="User greeted me.")]
    )
    h = Harness(model)
    await h.send("hello")
    assert h.sink.texts == ["Hi!"]


async def test_events_other_than_messages_reach_the_model_with_their_time() -> None:
    model = ScriptedModel([say("Morning!"), say("Got your file.")])
    h = Harness(model)
    h.clock.advance(hours=1)
    await h.runtime.handle(
        TimerFired(
            event_id="t1",
            agent_key="agent-1",
            occurred_at=h.clock.now(),
            checkin_id="c",
            note="morning check-in",
            reply_to=Address(platform="test", channel_id="c1"),
        )
    )
    await h.runtime.handle(
        UploadCompleted(
            event_id="u1",
            agent_key="agent-1",
            occurred_at=h.clock.now(),
            filename="report.pdf",
            passages=12,
        )
    )
    first = model.requests[0].messages[-1].content
    assert first.startswith("[Sat 2026-11-21 10:00 UTC] Scheduled check-in due: morning check-in")
    assert (
        "Archive Storage Upload Complete: 12 passages from report.pdf"
        in model.requests[1].messages[-1].content
    )


async def test_llm_failure_keeps_the_message_and_tells_the_user() -> None:
    model = ScriptedModel(
        [LLMUnavailableError("connection refused"), say("Back now. You said: hello?")]
    )
    h = Harness(model)
    outcome = await h.send("hello?")
    assert outcome.error and "connection refused" in outcome.error
    assert "couldn't answer" in h.sink.texts[0] and "saved" in h.sink.texts[0]
    # the unanswered message is in recall and in the next prompt
    await h.send("are you there?")
    contents = [m.content for m in model.requests[-1].messages]
    assert any(c.endswith("hello?") for c in contents) and any(
        c.endswith("are you there?") for c in contents
    )


async def test_every_call_sends_the_tool_schemas_and_records_usage() -> None:
    model = ScriptedModel([say("a"), say("b")])
    h = Harness(model)
    await h.send("one")
    await h.send("two")
    names = [t.name for t in model.requests[0].tools]
    assert names == [
        "send_message",
        "core_memory_append",
        "core_memory_replace",
        "conversation_search",
        "conversation_search_date",
        "archival_memory_insert",
        "archival_memory_search",
    ]
    state = (await h.runtime.session("agent-1")).state
    assert state.usage_today.calls == 2 and state.usage_total.prompt_tokens == 200


async def test_duplicate_tool_call_ids_are_made_unique() -> None:
    from core.messages import ToolCall
    from core.ports.model import ChatResponse

    dup = ChatResponse(
        content=None,
        tool_calls=(
            ToolCall(
                id="x",
                name="core_memory_append",
                arguments=json.dumps({"label": "human", "content": "a"}),
            ),
            ToolCall(id="x", name="send_message", arguments=json.dumps({"message": "ok"})),
        ),
    )
    model = ScriptedModel([dup, say("done")])
    h = Harness(model)
    await h.send("go")
    session = await h.runtime.session("agent-1")
    ids = [c.id for c in session.fifo[1].tool_calls]
    assert len(set(ids)) == 2
    assert {m.tool_call_id for m in session.fifo[2:4]} == set(ids)


async def test_context_length_error_flushes_and_retries() -> None:
    from core.turn.settings import AgentSettings

    model = ScriptedModel([say(f"reply {i}") for i in range(5)], summaries=["they chatted"])
    h = Harness(model, settings=AgentSettings(context_window=8000, reply_tokens=500))
    for i in range(5):
        await h.send(f"message number {i} " + "lorem ipsum " * 20)
    model.add(
        ContextWindowExceededError("maximum context length is 8192 tokens"), say("still here")
    )
    await h.send("one more")
    assert h.sink.texts[-1] == "still here"
    assert len(model.summary_requests) == 1
    session = await h.runtime.session("agent-1")
    assert session.state.summary == "they chatted" and session.state.summary_upto_seq > 0
    assert h.counter.correction > 1.0
