"""AgentStore contract: every backend behaves the same."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.monitoring import CommandListener, CommandStartedEvent

from adapters.mongo.agents import AGENTS, MongoAgentStore
from adapters.mongo.connection import MongoConnection
from core.context.memory import MemoryBlock, WorkingContext
from core.errors import ConcurrentUpdateError
from core.events import Address, SendReply
from core.records import AgentState, TokenUsage
from tests.contracts.conftest import Stores
from tests.support.agents import ManualClock


def state(key: str, clock) -> AgentState:
    return AgentState(
        agent_key=key,
        memory=WorkingContext(blocks=(MemoryBlock(label="human", value="Ana", limit=100),)),
        created_at=clock.now(),
        updated_at=clock.now(),
    )


async def test_create_load_and_versioned_save(stores: Stores) -> None:
    created = await stores.agents.save(state("telegram:user:1", stores.clock), None)
    assert created.version == 1
    loaded = await stores.agents.load("telegram:user:1")
    assert loaded == created
    changed = loaded.model_copy(
        update={
            "summary": "they met",
            "shown_memory": loaded.memory,
            "outbox": (
                SendReply(
                    agent_key="telegram:user:1",
                    event_id="e",
                    idempotency_key="k",
                    text="hi",
                    address=Address(platform="telegram", channel_id="1", is_direct=True),
                ),
            ),
            "usage_day": "2026-11-21",
            "usage_today": TokenUsage(
                calls=2, prompt_tokens=10, cached_tokens=4, completion_tokens=3
            ),
        }
    )
    saved = await stores.agents.save(changed, expected_version=1)
    assert saved.version == 2
    assert await stores.agents.load("telegram:user:1") == saved


async def test_stale_version_and_double_create_are_refused(stores: Stores) -> None:
    first = await stores.agents.save(state("a", stores.clock), None)
    with pytest.raises(ConcurrentUpdateError):
        await stores.agents.save(state("a", stores.clock), None)
    await stores.agents.save(first, expected_version=1)
    with pytest.raises(ConcurrentUpdateError):
        await stores.agents.save(first, expected_version=1)  # someone saved version 2 already
    with pytest.raises(ConcurrentUpdateError):
        await stores.agents.save(state("missing", stores.clock), expected_version=3)


async def test_erase_and_list(stores: Stores) -> None:
    for key in ("b", "a", "c"):
        await stores.agents.save(state(key, stores.clock), None)
    assert await stores.agents.list_keys() == ["a", "b", "c"]
    await stores.agents.erase("b")
    assert await stores.agents.load("b") is None
    assert await stores.agents.list_keys() == ["a", "c"]


# ------------------------------------------------------------------ what a save writes


class Updates(CommandListener):
    """The ``$set`` of every update of the agents collection."""

    def __init__(self) -> None:
        self.sets: list[dict[str, Any]] = []

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name == "update" and event.command.get("update") == AGENTS:
            self.sets.extend(u["u"]["$set"] for u in event.command["updates"])

    def succeeded(self, event: object) -> None: ...

    def failed(self, event: object) -> None: ...


@pytest.fixture
async def watched(connection: MongoConnection) -> AsyncIterator[tuple[MongoConnection, Updates]]:
    """A second client on the contract database, its agent updates recorded."""
    updates = Updates()
    conn = MongoConnection(connection.uri, connection.db.name, listeners=[updates])
    yield conn, updates
    await conn.aclose()


async def test_a_turn_writes_only_the_fields_it_changed(
    watched: tuple[MongoConnection, Updates],
) -> None:
    connection, updates = watched
    clock = ManualClock()
    agents = MongoAgentStore(connection)
    first = await agents.save(state("a", clock), None)
    events = tuple(f"console:{n:032x}" for n in range(128))  # a busy agent's 6 KB of ids
    second = await agents.save(
        first.model_copy(update={"recent_event_ids": events, "summary": "big"}), 1
    )
    third = await agents.save(
        second.model_copy(
            update={"last_event_id": "e", "usage_total": TokenUsage(calls=1, prompt_tokens=9)}
        ),
        2,
    )
    assert [sorted(s) for s in updates.sets[1:]] == [
        ["state.last_event_id", "state.usage_total", "updated", "usage_day", "v", "version"]
    ]
    assert await MongoAgentStore(connection).load("a") == third  # what another process reads


async def test_a_stale_save_is_refused_and_the_retry_keeps_the_other_process_s_change(
    watched: tuple[MongoConnection, Updates],
) -> None:
    connection, updates = watched
    clock = ManualClock()
    mine, theirs = MongoAgentStore(connection), MongoAgentStore(connection)
    created = await mine.save(state("a", clock), None)
    loaded = await theirs.load("a")
    assert loaded is not None
    await theirs.save(loaded.model_copy(update={"summary": "theirs"}), 1)
    with pytest.raises(ConcurrentUpdateError):
        await mine.save(created.model_copy(update={"last_event_id": "mine"}), 1)
    fresh = await mine.load("a")
    assert fresh is not None
    saved = await mine.save(fresh.model_copy(update={"last_event_id": "mine"}), 2)
    assert "state.last_event_id" in updates.sets[-1] and "state" not in updates.sets[-1]
    stored = await theirs.load("a")
    assert stored == saved and (stored.summary, stored.last_event_id) == ("theirs", "mine")


async def test_an_agent_erased_and_made_anew_is_written_whole(
    watched: tuple[MongoConnection, Updates],
) -> None:
    connection, updates = watched
    clock = ManualClock()
    mine, theirs = MongoAgentStore(connection), MongoAgentStore(connection)
    await mine.save(state("a", clock).model_copy(update={"summary": "old"}), None)
    await theirs.erase("a")
    clock.advance(seconds=60)
    remade = await theirs.save(state("a", clock), None)  # version 1 again, a new agent
    saved = await mine.save(remade.model_copy(update={"recent_event_ids": ("e",)}), 1)
    assert "state" in updates.sets[-1]  # the whole state: nothing of the old agent survives
    assert await theirs.load("a") == saved


async def test_a_stale_save_of_an_erased_agent_does_not_touch_the_one_made_anew(
    connection: MongoConnection,
) -> None:
    """A process still holding the old agent saves at a version the new one has reached too:
    refused, as any stale save, and the new agent is left as it was."""
    clock = ManualClock()
    mine, theirs = MongoAgentStore(connection), MongoAgentStore(connection)
    old = await mine.save(state("a", clock), None)
    old = await mine.save(old.model_copy(update={"summary": "the old agent"}), 1)
    await theirs.erase("a")
    clock.advance(seconds=60)
    new = await theirs.save(state("a", clock), None)
    new = await theirs.save(new.model_copy(update={"last_event_id": "new"}), 1)
    with pytest.raises(ConcurrentUpdateError):
        await mine.save(old.model_copy(update={"recent_event_ids": ("old",)}), 2)
    assert await theirs.load("a") == new
