"""What turn traces keep, the same on every backend (in memory, nx-27017, and a real MongoDB
with ``PAGEMIND_TEST_MONGODB_URI``): system texts once per hash, and messages carrying their
step's trace and their call's duration and hits through recall storage and the agent state."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from adapters.inmemory.traces import InMemorySystemTexts
from adapters.mongo.system_texts import MongoSystemTexts
from core.context.memory import WorkingContext
from core.messages import CallTrace, Message, PromptTokens, SearchHit, StepTrace, ToolCall
from core.records import AgentState, FailedCall
from tests.contracts.conftest import Stores


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def test_a_system_text_is_kept_once_under_its_hash(stores: Stores) -> None:
    texts: Any = (
        InMemorySystemTexts() if stores.connection is None else MongoSystemTexts(stores.connection)
    )
    text = "You are a memory agent.\n\n<working_context>ünï ✓</working_context>"
    assert await texts.get(sha(text)) is None
    await texts.put(sha(text), text)
    await texts.put(sha(text), text)  # again: no change, no error
    assert await texts.get(sha(text)) == text
    assert await texts.get(sha("other")) is None


NOW = datetime(2026, 12, 6, 12, 30, 15, 123000, tzinfo=UTC)
TRACE = StepTrace(
    at=NOW,
    first_seq=1,
    last_seq=1,
    system_sha256=sha("s"),
    tools_sha256=sha("t"),
    timezone="Europe/Lisbon",
    max_message_tokens=2048,
    max_reply_tokens=1024,
    tokens=PromptTokens(instructions=10, tools=20, reply_priming=3, working_context=5, messages=9),
    latency_ms=12.5,
    prompt_tokens=50,
    cached_tokens=0,
    completion_tokens=7,
    finish_reason="tool_calls",
)


async def test_messages_keep_their_traces_in_recall_and_in_the_state(stores: Stores) -> None:
    answer = Message(
        seq=2,
        role="assistant",
        kind="assistant",
        content="look it up",
        created_at=NOW,
        event_id="e1",
        tool_calls=(ToolCall(id="c1", name="archival_memory_search", arguments="{}"),),
        trace=TRACE,
    )
    result = Message(
        seq=3,
        role="tool",
        kind="tool_result",
        content="found",
        created_at=NOW,
        event_id="e1",
        tool_call_id="c1",
        tool_name="archival_memory_search",
        call=CallTrace(duration_ms=1.25, hits=(SearchHit(id="p1", score=0.5), SearchHit(id="7"))),
    )
    await stores.recall.append("a", [answer, result])
    back = await stores.recall.range("a", 1, 3)
    assert [m.trace for m in back] == [TRACE, None]
    assert [m.call for m in back] == [None, result.call]
    failed = FailedCall(event_id="e2", trace=TRACE.model_copy(update={"error": "no"}))
    state = AgentState(
        agent_key="a",
        memory=WorkingContext(),
        unfiled=(answer, result),
        failed_calls=(failed,),
        created_at=NOW,
        updated_at=NOW,
    )
    await stores.agents.save(state, None)
    loaded = await stores.agents.load("a")
    assert loaded is not None
    assert loaded.unfiled[0].trace == TRACE and loaded.unfiled[1].call == result.call
    assert loaded.failed_calls == (failed,)
