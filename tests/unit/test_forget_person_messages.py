"""A person erased from a group agent: the worker's change removes their block and every
message they wrote, the ones filed in recall and the ones the state still carries (a step
whose recall write had not happened yet)."""

from __future__ import annotations

from datetime import UTC, datetime

from bots.storage import memory_storage
from core.context.memory import MemoryBlock, WorkingContext
from core.events import ForgetBlock, OperatorChangeRequested
from core.messages import Message
from core.operator.changes import ChangeApplier
from core.records import AgentState

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
GROUP = "slack:channel:T1:C1"


def said(seq: int, text: str, author: str | None) -> Message:
    role = "user" if author else "assistant"
    kind = "user_message" if author else "assistant"
    return Message(seq=seq, role=role, kind=kind, content=text, created_at=NOW, author_id=author)


async def test_their_messages_go_from_recall_and_from_the_carried_step() -> None:
    storage = memory_storage()
    blocks = tuple(MemoryBlock(label=f"human:{who}", value=f"{who} notes") for who in "ab")
    await storage.recall.append(GROUP, [said(1, "ana: tea", "a"), said(2, "ben: coffee", "b")])
    carried = (said(3, "ana: my address is 5 Elm St", "a"), said(4, "noted", None))
    state = AgentState(
        agent_key=GROUP, memory=WorkingContext(blocks=blocks), last_seq=4, unfiled=carried,
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    await storage.agents.save(state, None)
    applier = ChangeApplier(storage.agents, recall=storage.recall)
    event = OperatorChangeRequested(
        event_id="operator:1", agent_key=GROUP, occurred_at=NOW,
        change=ForgetBlock(label="human:a", author_id="a"), key_id="k1", key_name="ops",
    )  # fmt: skip
    outcome = await applier.apply(event)
    assert outcome is not None and outcome.status == "applied"
    after = await storage.agents.load(GROUP)
    assert after is not None
    assert [b.label for b in after.memory.blocks] == ["human:b"]
    assert [m.seq for m in after.unfiled] == [4], "the carried step keeps only the agent's"
    assert [m.content for m in await storage.recall.range(GROUP, 0, 10)] == ["ben: coffee"]
    assert await applier.apply(event) == outcome  # a replay changes nothing more
