"""Export and erase one agent's data across every tier, on every backend."""

from __future__ import annotations

import json

from core.events import UserMessageReceived
from core.inbound.agent_data import AgentExport, erase_agent, export_agent
from tests.contracts.conftest import Stores
from tests.support.agents import Harness
from tests.support.scripted import ScriptedModel, call, say


async def test_export_holds_every_tier_and_erase_removes_only_that_agent(stores: Stores) -> None:
    model = ScriptedModel()
    h = Harness(model, agents=stores.agents, recall=stores.recall, archival=stores.archival)
    for agent in ("slack:T:U1", "slack:T:U2"):
        model.add(
            call(
                "core_memory_append",
                label="human",
                content=f"owner {agent}",
                request_heartbeat=True,
            ),
            call("archival_memory_insert", content=f"fact of {agent}", request_heartbeat=True),
            say("ok"),
        )
        await h.send(f"hello from {agent}", agent=agent)
    pending = UserMessageReceived(
        event_id="later", agent_key="slack:T:U1", occurred_at=h.clock.now(), text="queued"
    )
    await stores.inbox.put(pending)

    ports = {
        "agents": stores.agents,
        "recall": stores.recall,
        "archival": stores.archival,
        "inbox": stores.inbox,
    }
    exported = await export_agent("slack:T:U1", now=h.clock.now(), **ports)
    assert exported.state is not None and "owner slack:T:U1" in exported.state.memory.render()
    assert [m.kind for m in exported.messages][:1] == ["user_message"] and len(
        exported.messages
    ) == 7
    assert [p.text for p in exported.passages] == ["fact of slack:T:U1"]
    assert [e.event_id for e in exported.pending_events] == ["later"]
    text = exported.model_dump_json()
    assert "slack:T:U2" not in text
    assert AgentExport.model_validate(json.loads(text)) == exported, "the export reads back"

    await erase_agent("slack:T:U1", **ports)
    gone = await export_agent("slack:T:U1", now=h.clock.now(), **ports)
    assert (
        gone.state is None
        and gone.messages == []
        and gone.passages == []
        and gone.pending_events == []
    )
    assert await stores.recall.count("slack:T:U1") == 0
    kept = await export_agent("slack:T:U2", now=h.clock.now(), **ports)
    assert kept.state is not None and len(kept.messages) == 7 and len(kept.passages) == 1
