"""Working-context blocks through the operator API: read, edit with a version (409 on a lost
race, with the block as it is now), and an edit history naming who made each change (the
agent's own functions, an operator key). Driven with ``pagemind_client`` and raw HTTP against
a live server built by the composition root, on in-memory storage and on nx-27017."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.monitoring import CommandListener, CommandStartedEvent

from bots.bootstrap import bootstrap
from bots.storage import connect, mongo_storage, prepare
from core.clock import SystemClock
from core.events import OperatorChangeRequested
from core.inbound.commands import Command, CommandContext, confirmation_code
from pagemind_client import AsyncPagemind, ConflictError, NotFoundError, Pagemind, calls
from pagemind_client.errors import PermissionDeniedError
from tests.support.agents import RecordingSink
from tests.support.api import LiveApi, api_settings, live_api
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply

ANA = "telegram:user:1"
BO = "telegram:user:2"
NOBODY = "telegram:user:9"
SAID = tool_reply("send_message", {"message": "Noted!"})


def append(content: str, label: str = "human") -> dict[str, Any]:
    return tool_reply("core_memory_append", {"label": label, "content": content})


@pytest.fixture
async def llm() -> AsyncIterator[ScriptedOpenAIServer]:
    async with ScriptedOpenAIServer(default=SAID) as server:
        yield server


@pytest.fixture
async def live(llm: ScriptedOpenAIServer, storage: str) -> AsyncIterator[LiveApi]:
    async with live_api(llm, storage) as api:
        await api.seed(ANA, ("persona", "I am Sam."), ("human", "Ana"))
        await api.seed(BO, ("persona", "I am Sam."), ("human", "Bo"))
        yield api


async def collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


async def human(pm: AsyncPagemind, agent: str = ANA) -> Any:
    return next(b for b in await pm.memory.blocks(agent) if b.label == "human")


async def test_edits_by_the_agent_and_by_an_operator_are_versioned_and_in_the_history(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    async with live.client() as pm:
        before = await human(pm)
        assert (before.value, before.version, before.limit) == ("Ana", 0, 2000)
        llm.add(append("likes green tea"))
        await live.talk(ANA, "I like green tea")
        by_agent = await human(pm)
        assert (by_agent.value, by_agent.version) == ("Ana\nlikes green tea", 1)
        edited = await pm.memory.edit(ANA, "human", "Ana, likes black tea", version=1)
        assert (edited.value, edited.version) == ("Ana, likes black tea", 2)
        assert await human(pm) == edited
        assert (await pm.agents.get(ANA)).blocks[1] == edited  # the agent's JSON agrees
        history = await collect(pm.memory.history(ANA, "human"))
        assert [(e.version, e.before, e.after) for e in history] == [
            (2, "Ana\nlikes green tea", "Ana, likes black tea"),
            (1, "Ana", "Ana\nlikes green tea"),
        ]
        assert history[0].by.kind == "operator" and history[0].by.name == "alice (admin)"
        assert history[1].by.model_dump() == {
            "kind": "agent",
            "id": ANA,
            "name": "core_memory_append",
        }
        # revert: put an older text back; it is one more edit in the history
        reverted = await pm.memory.edit(ANA, "human", history[1].before, version=2)
        assert (reverted.value, reverted.version) == ("Ana", 3)
        latest = await collect(pm.memory.history(ANA, "human", page_size=1))
        assert [e.version for e in latest] == [3, 2, 1]
        audit = await collect(pm.audit.list(agent=ANA))
        assert [a.action for a in audit] == ["agents.edit_memory"] * 2
        assert all("black tea" not in a.summary for a in audit)  # no bodies in the audit
    # the agent sees the operator's text in its next call's working context
    llm.add(SAID)
    await live.talk(ANA, "what do you know about me?")
    system = llm.requests[-1][1]["messages"][0]["content"]
    assert "<human" in system and "\nAna\n</human>" in system


async def test_a_stale_version_is_refused_with_the_block_as_it_is_now(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    llm.add(append("likes green tea"))
    await live.talk(ANA, "I like green tea")
    async with live.client() as pm:
        with pytest.raises(ConflictError) as refused:
            await pm.memory.edit(ANA, "human", "Ana (edited from an old read)", version=0)
        assert refused.value.current == 1 and refused.value.field == "version"
        assert refused.value.block is not None
        assert refused.value.block.value == "Ana\nlikes green tea"
        assert refused.value.block.version == 1
        assert (await human(pm)).value == "Ana\nlikes green tea"
        assert [e.version for e in await collect(pm.memory.history(ANA, "human"))] == [1]


async def test_an_edit_queued_behind_the_agents_own_edit_loses_the_race_with_a_409(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    """The operator read version 0; while the edit waits in the inbox behind a turn under
    way, the agent's turn changes the block: the edit is refused when its turn comes."""
    calling, gate = asyncio.Event(), asyncio.Event()

    async def slow_append(body: dict[str, Any]) -> dict[str, Any]:
        calling.set()
        await gate.wait()
        return append("likes green tea")

    llm.add(slow_append)
    turn = asyncio.create_task(live.talk(ANA, "I like green tea"))
    async with live.client() as pm:
        await calling.wait()  # the turn is calling the model
        edit = asyncio.create_task(pm.memory.edit(ANA, "human", "Ana (operator)", version=0))
        await queued(live, ANA)  # the edit passed the API's checks, waits in the inbox
        gate.set()
        await turn
        with pytest.raises(ConflictError) as refused:
            await edit
        assert refused.value.block is not None
        assert (refused.value.block.value, refused.value.block.version) == (
            "Ana\nlikes green tea",
            1,
        )
        history = await collect(pm.memory.history(ANA, "human"))
        assert [(e.version, e.by.kind) for e in history] == [(1, "agent")]


async def queued(live: LiveApi, agent: str) -> None:
    """Until an operator's change for ``agent`` waits in its inbox."""
    async with asyncio.timeout(10):
        while True:
            pending = await live.svc.storage.inbox.pending(agent)
            if any(isinstance(e, OperatorChangeRequested) for e in pending):
                return
            await asyncio.sleep(0.01)


async def test_bad_edits_are_422_unknown_ones_404_and_a_viewer_cannot_edit(
    live: LiveApi,
) -> None:
    async with live.http(live.admin_key) as http:
        path = f"/api/agents/{ANA}/memory/human"
        too_long = await http.put(path, json={"value": "x" * 2001, "version": 0})
        assert too_long.status_code == 422 and too_long.json()["error"]["field"] == "value"
        assert "2,000" in too_long.json()["error"]["message"]
        for body, bad in (
            ({"value": "x"}, "version"),
            ({"value": "x", "version": -1}, "version"),
            ({"value": "x", "version": "one"}, "version"),
            ({"value": 5, "version": 0}, "value"),
            ({"value": "x", "version": 0, "label": "persona"}, "label"),
        ):
            answer = await http.put(path, json=body)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.json()["error"]["field"] == bad, (body, answer.text)
        not_json = await http.put(path, content=b"{value", headers={"content-type": "x/json"})
        assert not_json.status_code == 422
        for method, url, kwargs in (
            ("PUT", f"/api/agents/{ANA}/memory/nope", {"json": {"value": "x", "version": 0}}),
            ("GET", f"/api/agents/{ANA}/memory/nope/history", {}),
            ("PUT", f"/api/agents/{NOBODY}/memory/human", {"json": {"value": "x", "version": 0}}),
            ("GET", f"/api/agents/{NOBODY}/memory", {}),
            ("GET", f"/api/agents/{NOBODY}/memory/human/history", {}),
        ):  # fmt: skip
            answer = await http.request(method, url, **kwargs)
            assert answer.status_code == 404, (url, answer.text)
            assert answer.json()["error"]["code"] == "not_found"
        bad_cursor = await http.get(f"/api/agents/{ANA}/memory/human/history?cursor=abc")
        assert bad_cursor.status_code == 422 and bad_cursor.json()["error"]["field"] == "cursor"
    async with live.client(live.viewer_key) as viewer:
        assert [b.label for b in await viewer.memory.blocks(ANA)] == ["persona", "human"]
        assert await collect(viewer.memory.history(ANA, "human")) == []
        with pytest.raises(PermissionDeniedError):
            await viewer.memory.edit(ANA, "human", "changed by a viewer", version=0)
        assert (await human(viewer)).value == "Ana"
    async with live.client() as pm:
        with pytest.raises(NotFoundError):
            await pm.memory.edit(ANA, "nope", "x", version=0)
        assert await collect(pm.audit.list(agent=ANA)) == []  # nothing was changed


async def test_an_edit_touches_only_the_agent_and_block_it_names(live: LiveApi) -> None:
    _, second_key = await live.api.services.keys.create("bea (admin)", "admin")
    async with live.client() as alice, live.client(second_key) as bea:
        await alice.memory.edit(ANA, "human", "Ana, from alice", version=0)
        await bea.memory.edit(ANA, "persona", "I am Sam, edited by bea.", version=0)
        await bea.memory.edit(BO, "human", "Bo, from bea", version=0)
        ana = await alice.memory.blocks(ANA)
        assert [(b.value, b.version) for b in ana] == [
            ("I am Sam, edited by bea.", 1),
            ("Ana, from alice", 1),
        ]
        bo = await alice.memory.blocks(BO)
        assert [(b.value, b.version) for b in bo] == [("I am Sam.", 0), ("Bo, from bea", 1)]
        ana_human = await collect(alice.memory.history(ANA, "human"))
        assert [e.by.name for e in ana_human] == ["alice (admin)"]
        ana_persona = await collect(alice.memory.history(ANA, "persona"))
        assert [e.by.name for e in ana_persona] == ["bea (admin)"]
        bo_human = await collect(bea.memory.history(BO, "human"))
        assert [(e.before, e.after) for e in bo_human] == [("Bo", "Bo, from bea")]
        assert await collect(bea.memory.history(BO, "persona")) == []


async def test_history_pages_never_overlap_or_skip(live: LiveApi) -> None:
    async with live.client() as pm:
        version = 0
        for n in range(7):
            version = (await pm.memory.edit(ANA, "human", f"Ana {n}", version=version)).version
        seen: list[int] = []
        page = await pm.call(calls.block_history_page(ANA, "human", limit=3))
        seen += [e.version for e in page.items]
        while page.next_cursor is not None:
            # between two page reads, newer edits are made: they do not shift older pages
            version = (
                await pm.memory.edit(ANA, "human", f"new {version}", version=version)
            ).version
            following = calls.block_history_page(ANA, "human", limit=3, cursor=page.next_cursor)
            page = await pm.call(following)
            seen += [e.version for e in page.items]
        assert seen == [7, 6, 5, 4, 3, 2, 1]
        assert version == 9


# --------------------------------------------------------------------------- database cost


@dataclass
class Commands(CommandListener):
    """Every command the driver sends, by name and collection."""

    seen: Counter[str] = field(default_factory=Counter)

    def started(self, event: CommandStartedEvent) -> None:
        collection = event.command.get(event.command_name)
        self.seen[f"{event.command_name} {collection}"] += 1

    def succeeded(self, event: object) -> None: ...

    def failed(self, event: object) -> None: ...

    def on(self, collection: str) -> Counter[str]:
        return Counter({k: v for k, v in self.seen.items() if k.endswith(f" {collection}")})


async def test_the_history_costs_no_command_for_a_plain_message_and_one_for_an_edit(
    llm: ScriptedOpenAIServer, nx_uri: str
) -> None:
    commands = Commands()
    clock = SystemClock()
    settings = api_settings(llm, nx_uri, checkins=False)
    connection = connect(nx_uri, f"edits_{uuid.uuid4().hex[:10]}", listeners=[commands])
    await prepare(connection, clock)
    storage = mongo_storage(connection, clock, worker_id="w1")
    try:
        async with bootstrap(settings, storage=storage, replies=RecordingSink()) as svc:
            live = LiveApi(svc, None, "", "", RecordingSink())  # type: ignore[arg-type]
            await live.seed(ANA, ("persona", "I am Sam."), ("human", "Ana"))
            commands.seen.clear()
            for n in range(3):
                await live.talk(ANA, f"plain message {n}")
            assert len(llm.requests) == 3
            assert commands.on("memory_edits") == Counter()
            llm.add(append("likes tea"), SAID)
            await live.talk(ANA, "I like tea")
            assert commands.on("memory_edits") == Counter({"update memory_edits": 1})
            edits = await storage.memory_edits.page(ANA, "human", below=None, limit=5)
            assert [(e.version, e.after) for e in edits] == [(1, "Ana\nlikes tea")]
    finally:
        await connection.client.drop_database(connection.db.name)
        await connection.aclose()


async def test_the_persons_export_holds_the_history_and_erase_removes_it(
    live: LiveApi, llm: ScriptedOpenAIServer
) -> None:
    llm.add(append("likes green tea"))
    await live.talk(ANA, "I like green tea")
    async with live.client() as pm:
        await pm.memory.edit(BO, "human", "Bo, edited", version=0)
        commands = live.svc.commands
        me = CommandContext(conversation_agent=ANA, own_agent=ANA, caller_id="1", caller_name="A")
        export = await commands.run(Command("export"), me)
        assert export.file is not None
        edits = json.loads(export.file[1])["memory_edits"]
        assert [(e["label"], e["version"], e["by"]["kind"]) for e in edits] == [
            ("human", 1, "agent")
        ]
        code = confirmation_code(ANA, datetime.now(UTC))
        erased = await commands.run(Command("erase", code), me)
        assert erased.text.startswith("Done")
        with pytest.raises(NotFoundError):
            await collect(pm.memory.history(ANA, "human"))
        assert await live.svc.storage.memory_edits.all(ANA) == []
        assert [e.after for e in await collect(pm.memory.history(BO, "human"))] == ["Bo, edited"]


async def test_the_sync_client_reads_edits_and_pages_the_history(live: LiveApi) -> None:
    def sync_session() -> tuple[list[int], int | None, str]:
        with Pagemind(live.url, live.admin_key) as pm:
            block = next(b for b in pm.memory.blocks(ANA) if b.label == "human")
            edited = pm.memory.edit(ANA, "human", block.value + ", tea", version=block.version)
            pm.memory.edit(ANA, "human", "Ana, coffee", version=edited.version)
            versions = [e.version for e in pm.memory.history(ANA, "human", page_size=1)]
            try:
                pm.memory.edit(ANA, "human", "late", version=edited.version)
            except ConflictError as exc:
                assert exc.block is not None
                return versions, exc.current, exc.block.value
            raise AssertionError("a stale version was accepted")

    versions, current, value = await asyncio.to_thread(sync_session)
    assert versions == [2, 1] and current == 2 and value == "Ana, coffee"
