"""A person through the operator API: every agent that holds them (their own and the group
agents where they own a block), their export, and their erase, which leaves the other
people of a group agent untouched. On in-memory storage and nx-27017."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from pagemind_client import NotFoundError
from pagemind_client.errors import PermissionDeniedError
from tests.support.api import LiveApi, live_api
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply

OWN = "slack:user:T1:U7"
GROUP = "slack:channel:T1:C1"
ELSEWHERE = "slack:channel:T1:C2"
SAID = tool_reply("send_message", {"message": "Noted!"})


def note(content: str) -> dict[str, Any]:
    return tool_reply("core_memory_append", {"label": "human", "content": content})


@pytest.fixture
async def live(storage: str) -> AsyncIterator[LiveApi]:
    async with ScriptedOpenAIServer(default=SAID) as llm, live_api(llm, storage) as api:
        llm.add(note("U7 grows tomatoes"))
        await api.talk(OWN, "I grow tomatoes", author="T1:U7")
        llm.add(note("U7 leads the garden club"))
        await api.talk(GROUP, "I lead the garden club", author="T1:U7")
        llm.add(note("U8 brings the seeds"))
        await api.talk(GROUP, "I bring the seeds", author="T1:U8")
        await api.talk(ELSEWHERE, "hello from U8", author="T1:U8")
        yield api


async def collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


async def test_a_person_is_found_in_their_own_agent_and_the_groups_holding_their_block(
    live: LiveApi,
) -> None:
    async with live.client(live.viewer_key) as viewer:
        person = await viewer.persons.get("slack", "T1:U7")
        assert [(a.agent.key, a.block) for a in person.agents] == [
            (GROUP, "human:T1:U7"),
            (OWN, None),
        ]
        other = await viewer.persons.get("slack", "T1:U8")
        assert [a.agent.key for a in other.agents] == [GROUP]  # no block in C2: not held
        for platform, user in (("slack", "T1:U9"), ("telegram", "T1:U7")):
            with pytest.raises(NotFoundError):
                await viewer.persons.get(platform, user)


async def test_a_persons_export_holds_their_agents_and_only_their_part_of_groups(
    live: LiveApi,
) -> None:
    async with live.client(live.viewer_key) as viewer:
        data = await viewer.persons.export("slack", "T1:U7")
    assert [a.agent_key for a in data.agents] == [OWN]
    assert any("tomatoes" in str(m["content"]) for m in data.agents[0].messages)
    (group,) = data.groups
    assert group.agent == GROUP and group.block is not None
    assert group.block.label == "human:T1:U7" and "garden club" in group.block.value
    assert [(e.version, e.by.kind) for e in group.memory_edits] == [(1, "agent")]
    assert [m["content"] for m in group.messages] == ["I lead the garden club"]
    assert "U8 brings" not in data.model_dump_json() and "seeds" not in data.model_dump_json()


async def test_erasing_a_person_removes_their_agent_and_block_and_keeps_the_others(
    live: LiveApi,
) -> None:
    async with live.client(live.viewer_key) as viewer:
        with pytest.raises(PermissionDeniedError):
            await viewer.persons.erase("slack", "T1:U7")
    async with live.client() as pm:
        with pytest.raises(NotFoundError):
            await pm.persons.erase("slack", "T1:U9")
        gone = await pm.persons.erase("slack", "T1:U7")
        assert gone.agents_erased == [OWN] and gone.removed_from == [GROUP]
        with pytest.raises(NotFoundError):
            await pm.persons.get("slack", "T1:U7")
        with pytest.raises(NotFoundError):
            await pm.agents.get(OWN)
        blocks = [b.label for b in await pm.memory.blocks(GROUP)]
        assert "human:T1:U7" not in blocks and "human:T1:U8" in blocks
        with pytest.raises(NotFoundError):
            await collect(pm.memory.history(GROUP, "human:T1:U7"))
        kept = await collect(pm.memory.history(GROUP, "human:T1:U8"))
        assert [e.after for e in kept] == ["U8 brings the seeds"]
        assert [e.label for e in await live.svc.storage.memory_edits.all(GROUP)] == ["human:T1:U8"]
        assert [a.agent.key for a in (await pm.persons.get("slack", "T1:U8")).agents] == [GROUP]
        audit = await collect(pm.audit.list())
        assert audit[0].action == "persons.erase" and audit[0].target == "slack:T1:U7"


async def test_erasing_a_person_removes_what_they_wrote_in_group_agents(live: LiveApi) -> None:
    await live.talk(GROUP, "my allotment is plot nine", author="T1:U7")
    async with live.client() as pm:
        said = {m.text for m in await collect(pm.messages.list(GROUP)) if m.author_id == "T1:U7"}
        assert said == {"I lead the garden club", "my allotment is plot nine"}
        assert [m.text for m in await collect(pm.messages.list(GROUP, q="garden club"))] == [
            "I lead the garden club"
        ]
        await pm.persons.erase("slack", "T1:U7")
        messages = await collect(pm.messages.list(GROUP))
        assert [m.text for m in messages if m.author_id == "T1:U7"] == []
        assert [m.text for m in messages if m.author_id == "T1:U8"] == ["I bring the seeds"]
        for words in ("garden club", "allotment plot nine"):
            assert await collect(pm.messages.list(GROUP, q=words)) == [], words
        seeds = await collect(pm.messages.list(GROUP, q="seeds"))
        assert [m.author_id for m in seeds] == ["T1:U8"]
        export = await pm.agents.export(GROUP)
        assert [m for m in export.messages if m.get("author_id") == "T1:U7"] == []
        assert "plot nine" not in export.model_dump_json()
        assert "I lead the garden club" not in export.model_dump_json()
        assert "I bring the seeds" in export.model_dump_json()
        # the agent's next turn, wherever it runs, sees none of it
        await live.talk(GROUP, "who leads the garden club?", author="T1:U8")
        stored = await live.svc.storage.recall.range(GROUP, 0, 10_000)
        assert [m.content for m in stored if m.author_id == "T1:U7"] == []
