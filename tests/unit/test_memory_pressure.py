"""Memory pressure: the warning, eviction into a recursive summary, and failure modes."""

from __future__ import annotations

import itertools

from core.errors import LLMUnavailableError
from core.records import RecallQuery
from core.turn.settings import AgentSettings
from tests.support.agents import Harness
from tests.support.scripted import ScriptedModel, say

SMALL = AgentSettings(context_window=6000, reply_tokens=400, summary_tokens=300)
FILLER = "The quick brown fox jumps over the lazy dog near the river bank. " * 8  # ~110 tokens


def prompt_size(h: Harness, request) -> int:
    """Recount a request from scratch: tool schemas, every message, the reply priming."""
    from core.context.layout import tool_wire
    from core.context.tokens import TOKENS_PER_REPLY

    layout = h.runtime.layout
    tools = sum(h.counter.count_json(tool_wire(t)) + 8 for t in request.tools)
    return tools + sum(layout.count(m) for m in request.messages) + TOKENS_PER_REPLY


async def chat(h: Harness, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        await h.send(f"note {i}: {FILLER}")


async def test_warning_comes_once_at_the_threshold() -> None:
    model = ScriptedModel(default=say("ok"), summaries=[f"summary {i}" for i in range(9)])
    h = Harness(model, settings=SMALL)
    await chat(h, 40)
    alerts = [
        (i, m.content)
        for i, r in enumerate(model.requests)
        for m in r.messages
        if "Memory pressure" in m.content
    ]
    assert alerts, "the agent was never warned"
    first_request = alerts[0][0]
    size = h.counter.scaled(prompt_size(h, model.requests[first_request]))
    assert size > 0.7 * SMALL.context_window
    # earlier requests were below the line and carried no alert
    assert h.counter.scaled(prompt_size(h, model.requests[first_request - 1])) <= 0.7 * 6000 + 300
    # one alert per fill-up, not one on every call past the threshold
    assert len({c for _, c in alerts}) <= len(model.summary_requests) + 1


async def test_flush_evicts_into_a_recursive_summary_and_keeps_recall() -> None:
    model = ScriptedModel(default=say("ok"), summaries=[f"summary {i}" for i in range(9)])
    h = Harness(model, settings=SMALL)
    await chat(h, 60)
    flushes = len(model.summary_requests)
    assert flushes >= 2
    for i in range(1, flushes):
        shown = model.summary_requests[i].messages[-1].content
        assert f"Previous summary:\nsummary {i - 1}\n" in shown, "the summary must be recursive"
    session = await h.runtime.session("agent-1")
    assert session.state.summary == f"summary {flushes - 1}"
    # no request was ever over the window minus the reply reserve
    for request in model.requests:
        assert (
            h.counter.scaled(prompt_size(h, request)) <= SMALL.context_window - SMALL.reply_tokens
        )
    # the summary is in the prompt right after the working context
    system = model.requests[-1].messages[0].content
    assert system.index("</working_context>") < system.index(f"summary {flushes - 1}")
    # evicted messages are still searchable in recall
    assert session.fifo[0].seq > 1
    found = await h.recall.search("agent-1", RecallQuery(text="note 0"))
    assert any(m.seq == 1 for m in found.items)
    unfiled = len(session.state.unfiled)  # the last step's messages, in the state for now
    assert await h.recall.count("agent-1") + unfiled == session.state.last_seq
    # about half the window is freed by a flush
    sizes = [prompt_size(h, r) for r in model.requests]
    drops = [a - b for a, b in itertools.pairwise(sizes) if a - b > 1000]
    assert drops and all(d > 0.3 * SMALL.context_window for d in drops)


async def test_flush_never_orphans_a_function_result() -> None:
    model = ScriptedModel(default=say("ok"), summaries=["s1", "s2", "s3"])
    h = Harness(model, settings=SMALL)
    await chat(h, 50)
    for request in model.requests:
        assert request.messages[1].role != "tool"


async def test_summary_failure_loses_nothing_and_the_turn_completes() -> None:
    model = ScriptedModel(default=say("ok"), summaries=[LLMUnavailableError("summarizer down")])
    h = Harness(model, settings=SMALL)
    await chat(h, 30)
    session = await h.runtime.session("agent-1")
    assert session.state.summary_upto_seq > 0, "the flush happened"
    assert "left view without a summary" in session.state.summary
    assert "conversation_search" in session.state.summary
    assert len(h.sink.texts) == 30, "every turn still answered"
    unfiled = len(session.state.unfiled)  # the last step's messages, in the state for now
    assert await h.recall.count("agent-1") + unfiled == session.state.last_seq


async def test_huge_message_is_cut_in_the_prompt_but_fully_kept() -> None:
    model = ScriptedModel(default=say("ok"))
    h = Harness(model, settings=SMALL)
    body = " ".join(f"word{i}" for i in range(20000))
    await h.send("START " + body + " END")
    shown = model.requests[0].messages[-1].content
    assert "START" in shown and "END" not in shown and "too long to show" in shown
    assert prompt_size(h, model.requests[0]) <= SMALL.context_window - SMALL.reply_tokens
    stored = (await h.recall.range("agent-1", 0, 10))[0]
    assert stored.content.endswith("END")
    archived = await h.archival.all("agent-1")
    assert archived and "END" in archived[-1].text and archived[0].source == "message #1"
