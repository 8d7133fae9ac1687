"""The prompt stays cache-friendly: a stable prefix, nothing volatile in it."""

from __future__ import annotations

from core.turn.settings import AgentSettings
from tests.support.agents import Harness
from tests.support.scripted import ScriptedModel, call, say


async def test_prefix_is_unchanged_from_one_call_to_the_next() -> None:
    model = ScriptedModel(default=say("ok"))
    h = Harness(model)
    for i in range(5):
        h.clock.advance(minutes=3)
        await h.send(f"message {i}")
    for before, after in zip(model.requests, model.requests[1:], strict=False):
        assert after.messages[: len(before.messages)] == before.messages
    system = model.requests[0].messages[0].content
    assert "2026" not in system, "no timestamp in the system message"


async def test_a_memory_edit_keeps_the_prefix_and_shows_the_new_block_in_the_result() -> None:
    model = ScriptedModel(default=say("ok"))
    h = Harness(model)
    await h.send("hello")
    model.add(
        call("core_memory_append", label="human", content="Name: Ana", request_heartbeat=True),
        say("hi Ana"),
    )
    await h.send("I'm Ana")
    before, during, after = model.requests[0], model.requests[1], model.requests[2]
    assert during.messages[0] == before.messages[0] == after.messages[0], "system message unchanged"
    assert after.messages[-1].content.endswith("human now reads (9/2,000 characters):\nName: Ana")
    await h.send("what's my name?")
    assert model.requests[3].messages[: len(after.messages)] == after.messages


async def test_the_shown_working_context_catches_up_after_the_cache_goes_cold() -> None:
    model = ScriptedModel(default=say("ok"))
    h = Harness(model, settings=AgentSettings(cache_idle_seconds=600))
    model.add(
        call("core_memory_append", label="human", content="Name: Ana", request_heartbeat=True),
        say("hi"),
    )
    await h.send("I'm Ana")
    await h.send("quick follow-up")  # a minute later: cache still warm, snapshot kept
    assert "Name: Ana" not in model.requests[-1].messages[0].content
    h.clock.advance(minutes=30)
    await h.send("back after a while")
    assert "Name: Ana" in model.requests[-1].messages[0].content


async def test_a_flush_brings_the_shown_working_context_up_to_date() -> None:
    model = ScriptedModel(default=say("ok"), summaries=[f"s{i}" for i in range(5)])
    h = Harness(
        model, settings=AgentSettings(context_window=6000, reply_tokens=400, summary_tokens=300)
    )
    model.add(
        call("core_memory_append", label="human", content="Name: Ana", request_heartbeat=True),
        say("hi"),
    )
    await h.send("I'm Ana")
    while not model.summary_requests:
        await h.send("filler " * 100)
    assert "Name: Ana" in model.requests[-1].messages[0].content
    assert (await h.runtime.session("agent-1")).state.shown_memory is None
