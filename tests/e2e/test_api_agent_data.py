"""Export and erase of one agent through the operator API: every tier in one document, and
after an erase nothing of it found by any read, while the other agent keeps everything.
Against a live server built by the composition root, on in-memory storage and nx-27017."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pagemind_client import AsyncPagemind, NotFoundError
from pagemind_client.errors import PermissionDeniedError
from tests.support.api import LiveApi, live_api
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply

ANA = "telegram:user:1"
BO = "telegram:user:2"
SAID = tool_reply("send_message", {"message": "Noted!"})


@pytest.fixture
async def live(storage: str) -> AsyncIterator[tuple[LiveApi, ScriptedOpenAIServer]]:
    async with ScriptedOpenAIServer(default=SAID) as llm, live_api(llm, storage) as api:
        yield api, llm


async def collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


async def settled(live: LiveApi, agent: str, filename: str) -> None:
    """Until the agent was told of the upload and has no event left to process."""
    stores = live.svc.storage
    async with asyncio.timeout(30):
        while True:
            state = await stores.agents.load(agent)
            seen = await stores.recall.range(agent, 0, state.last_seq) if state else []
            told = any(m.kind == "upload" and filename in m.content for m in seen)
            if told and not await stores.inbox.pending(agent):
                return
            await asyncio.sleep(0.05)


async def furnish(live: LiveApi, llm: ScriptedOpenAIServer, pm: AsyncPagemind, who: str) -> None:
    """An agent with something in every tier: messages, its own block edit and passage, an
    uploaded file, a check-in and an operator's edit."""
    agent = ANA if who == "Ana" else BO
    llm.add(
        tool_reply(
            "core_memory_append",
            {"label": "human", "content": f"{who} keeps bees", "request_heartbeat": True},
        ),
        tool_reply(
            "archival_memory_insert",
            {"content": f"{who}'s hive is by the orchard", "request_heartbeat": True},
        ),
        SAID,
    )
    await live.talk(agent, f"I'm {who} and I keep bees")
    text = f"# {who}'s hive log\n\nThe queen of {who}'s hive was seen in May."
    job = await pm.archival.upload(agent, text.encode(), filename=f"{who}.md", mime="text/markdown")
    assert (await pm.archival.wait(agent, job.id, max_seconds=60, every=0.05)).status == "stored"
    await settled(live, agent, f"{who}.md")
    await pm.checkins.create(agent, f"ask {who} about the honey", every="1w")
    human = next(b for b in await pm.memory.blocks(agent) if b.label == "human")
    await pm.memory.edit(agent, "human", f"{who}: beekeeper", version=human.version)


async def test_the_export_holds_every_tier_of_that_agent_only(
    live: tuple[LiveApi, ScriptedOpenAIServer],
) -> None:
    api, llm = live
    async with api.client() as pm:
        await furnish(api, llm, pm, "Ana")
        await furnish(api, llm, pm, "Bo")
        async with api.client(api.viewer_key) as viewer:
            data = await viewer.agents.export(ANA)
        assert data.format == "pagemind-agent-export" and data.agent_key == ANA
        assert data.state is not None
        blocks = {b["label"]: b for b in data.state["memory"]["blocks"]}
        assert blocks["human"]["value"] == "Ana: beekeeper" and blocks["human"]["version"] == 2
        texts = " ".join(str(m["content"]) for m in data.messages)
        assert "I'm Ana and I keep bees" in texts and "Ana.md" in texts
        passages = sorted(p["text"] for p in data.passages)
        assert any("orchard" in p for p in passages) and any("queen" in p for p in passages)
        assert all(p.get("embedding") is None for p in data.passages)
        assert sorted(s.filename or "own" for s in data.sources) == ["Ana.md", "own"]
        assert [c["note"] for c in data.checkins] == ["ask Ana about the honey"]
        assert [(j["filename"], j["status"]) for j in data.upload_jobs] == [("Ana.md", "stored")]
        edits = [(e["label"], e["version"], e["by"]["kind"]) for e in data.memory_edits]
        assert edits == [("human", 1, "agent"), ("human", 2, "operator")]
        assert "Bo" not in data.model_dump_json()  # nothing of the other agent
        with pytest.raises(NotFoundError):
            await pm.agents.export("telegram:user:999")


async def test_an_erased_agent_is_gone_from_every_read_and_the_other_keeps_everything(
    live: tuple[LiveApi, ScriptedOpenAIServer],
) -> None:
    api, llm = live
    async with api.client() as pm:
        await furnish(api, llm, pm, "Ana")
        await furnish(api, llm, pm, "Bo")
        bo_before = (await pm.agents.export(BO)).model_dump(exclude={"exported_at"})
        job = next(iter((await pm.agents.export(ANA)).upload_jobs))
        async with api.client(api.viewer_key) as viewer:
            with pytest.raises(PermissionDeniedError):
                await viewer.agents.erase(ANA)
        with pytest.raises(NotFoundError):
            await pm.agents.erase("telegram:user:999")

        erased = await pm.agents.erase(ANA)
        assert erased.agent == ANA and erased.messages > 0 and erased.passages >= 2
        assert (erased.checkins, erased.upload_jobs, erased.memory_edits) == (1, 1, 2)
        for read in (
            pm.agents.get(ANA),
            pm.agents.usage(ANA),
            pm.agents.export(ANA),
            pm.memory.blocks(ANA),
            collect(pm.memory.history(ANA, "human")),
            collect(pm.checkins.list(ANA)),
            collect(pm.archival.sources(ANA)),
            pm.archival.search(ANA, "queen"),
            pm.archival.job(ANA, job["id"]),
            pm.agents.erase(ANA),
        ):
            with pytest.raises(NotFoundError):
                await read
        assert [a.key for a in await collect(pm.agents.list())] == [BO]
        stores = api.svc.storage
        assert await stores.recall.count(ANA) == 0 and await stores.archival.count(ANA) == 0
        assert await stores.archival.sources(ANA) == []
        assert await stores.memory_edits.all(ANA) == []
        assert await stores.upload_jobs.for_agent(ANA) == []
        assert await stores.checkins.active(ANA) == []
        assert await stores.inbox.pending(ANA) == []
        assert (await pm.agents.export(BO)).model_dump(exclude={"exported_at"}) == bo_before
        audit = await collect(pm.audit.list(agent=ANA))
        assert audit[0].action == "agents.erase" and "bees" not in audit[0].summary
    # the person writes again: a new agent, remembering nothing
    await api.talk(ANA, "hello again")
    async with api.client() as pm:
        fresh = await pm.memory.blocks(ANA)
        assert all("Ana" not in b.value for b in fresh) and all(b.version == 0 for b in fresh)
        assert await collect(pm.memory.history(ANA, "human")) == []
