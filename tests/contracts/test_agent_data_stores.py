"""The stores an agent's export and erase read beyond its tiers (the edit history of its
working-context blocks, its upload jobs): every backend behaves the same (in memory,
nx-27017, and a real MongoDB when ``PAGEMIND_TEST_MONGODB_URI`` is set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.inmemory.memory_edits import InMemoryMemoryEditStore
from adapters.inmemory.operator import InMemoryUploadJobStore
from adapters.mongo.connection import MongoConnection
from adapters.mongo.memory_edits import MongoMemoryEditStore
from adapters.mongo.schema import ensure_indexes
from adapters.mongo.upload_jobs import MongoUploadJobStore
from core.context.edits import Editor, MemoryEdit
from core.operator.records import UploadJob
from tests.contracts.conftest import BACKENDS
from tests.support.mongo import REAL_MONGODB_ENV

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
AGENT = Editor(kind="agent", id="telegram:user:1", name="core_memory_append")
ALICE = Editor(kind="operator", id="k1", name="alice")


@dataclass
class AgentDataStores:
    edits: Any
    jobs: Any


@pytest.fixture(params=BACKENDS)
async def both(request: pytest.FixtureRequest) -> AsyncIterator[AgentDataStores]:
    if request.param == "memory":
        yield AgentDataStores(InMemoryMemoryEditStore(), InMemoryUploadJobStore())
        return
    uri = (
        request.getfixturevalue("nx_uri")
        if request.param == "nx-27017"
        else os.environ[REAL_MONGODB_ENV]
    )
    connection = MongoConnection(uri, f"contract_{uuid.uuid4().hex[:12]}")
    await ensure_indexes(connection)
    try:
        yield AgentDataStores(MongoMemoryEditStore(connection), MongoUploadJobStore(connection))
    finally:
        await connection.client.drop_database(connection.db.name)
        await connection.aclose()


@pytest.fixture
def store(both: AgentDataStores) -> Any:
    return both.edits


def edit(
    version: int, *, agent: str = "telegram:user:1", label: str = "human", by: Editor = AGENT
) -> MemoryEdit:
    return MemoryEdit(
        agent_key=agent,
        label=label,
        version=version,
        before=f"text {version - 1}",
        after=f"text {version}",
        by=by,
        at=T0 + timedelta(minutes=version),
    )


async def test_a_blocks_edits_read_newest_first_in_pages(store: Any) -> None:
    await store.record([edit(1), edit(2)])
    await store.record([edit(3, by=ALICE)])
    await store.record([edit(4), edit(5)])
    first = await store.page("telegram:user:1", "human", below=None, limit=2)
    assert [e.version for e in first] == [5, 4]
    rest = await store.page("telegram:user:1", "human", below=4, limit=10)
    assert [e.version for e in rest] == [3, 2, 1]
    assert rest[0] == edit(3, by=ALICE)  # everything kept: before, after, who, when
    assert rest[0].by.kind == "operator" and rest[0].by.name == "alice"


async def test_an_edit_recorded_again_replaces_the_one_with_its_version(store: Any) -> None:
    await store.record([edit(1), edit(2)])
    redone = edit(2, by=ALICE).model_copy(update={"after": "redone"})
    await store.record([redone])  # a step replayed after a crash
    found = await store.page("telegram:user:1", "human", below=None, limit=10)
    assert [e.version for e in found] == [2, 1]
    assert found[0].after == "redone"


async def test_agents_and_blocks_are_kept_apart_and_erased_apart(store: Any) -> None:
    await store.record([edit(1), edit(2), edit(1, label="persona")])
    await store.record([edit(1, agent="telegram:user:2"), edit(7, agent="telegram:user:10")])
    humans = await store.page("telegram:user:1", "human", below=None, limit=10)
    assert [(e.agent_key, e.label) for e in humans] == [("telegram:user:1", "human")] * 2
    every = await store.all("telegram:user:1")
    assert [(e.label, e.version) for e in every] == [("human", 1), ("human", 2), ("persona", 1)]
    assert await store.erase("telegram:user:1", "persona") == 1
    assert [e.label for e in await store.all("telegram:user:1")] == ["human", "human"]
    assert await store.erase("telegram:user:1") == 2
    assert await store.all("telegram:user:1") == []
    assert await store.page("telegram:user:1", "human", below=None, limit=10) == []
    other = await store.all("telegram:user:2")
    assert [e.agent_key for e in other] == ["telegram:user:2"]
    assert [e.version for e in await store.all("telegram:user:10")] == [7]


async def test_recording_nothing_is_allowed(store: Any) -> None:
    await store.record([])
    assert await store.all("telegram:user:1") == []


def job(job_id: str, agent: str, minute: int) -> UploadJob:
    at = T0 + timedelta(minutes=minute)
    return UploadJob(
        id=job_id, agent_key=agent, filename=f"{job_id}.txt", status="stored", created_at=at,
        updated_at=at, done=2, total=2, passages=2,
    )  # fmt: skip


async def test_an_agents_upload_jobs_are_listed_oldest_first_and_erased_alone(
    both: AgentDataStores,
) -> None:
    await both.jobs.put(job("j2", "telegram:user:1", 2))
    await both.jobs.put(job("j1", "telegram:user:1", 1))
    await both.jobs.put(job("j3", "telegram:user:2", 0))
    assert [j.id for j in await both.jobs.for_agent("telegram:user:1")] == ["j1", "j2"]
    assert await both.jobs.for_agent("telegram:user:9") == []
    assert await both.jobs.erase("telegram:user:1") == 2
    assert await both.jobs.for_agent("telegram:user:1") == []
    assert await both.jobs.get("j1") is None
    assert [j.id for j in await both.jobs.for_agent("telegram:user:2")] == ["j3"]
    assert await both.jobs.erase("telegram:user:1") == 0
