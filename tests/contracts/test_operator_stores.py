"""The operator layer's stores (API keys, the audit log, upload jobs): every backend behaves
the same (in memory, nx-27017, and a real MongoDB when ``PAGEMIND_TEST_MONGODB_URI`` is set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from adapters.inmemory.operator import (
    InMemoryApiKeyStore,
    InMemoryAuditLog,
    InMemoryUploadJobStore,
)
from adapters.mongo.api_keys import MongoApiKeyStore
from adapters.mongo.audit import MongoAuditLog
from adapters.mongo.connection import MongoConnection
from adapters.mongo.schema import ensure_indexes
from adapters.mongo.upload_jobs import MongoUploadJobStore
from core.context.memory import WorkingContext
from core.errors import ConcurrentUpdateError
from core.operator.audit import Audit
from core.operator.errors import InvalidRequestError, NotFoundError, UnauthorizedError
from core.operator.keys import ApiKeys, Caller
from core.operator.records import UploadJob
from core.records import AgentState
from tests.contracts.conftest import BACKENDS, Stores
from tests.support.agents import ManualClock
from tests.support.mongo import REAL_MONGODB_ENV


@dataclass
class OperatorStores:
    keys: Any
    audit: Any
    jobs: Any
    clock: ManualClock


@pytest.fixture(params=BACKENDS)
async def ops(request: pytest.FixtureRequest) -> AsyncIterator[OperatorStores]:
    clock = ManualClock()
    if request.param == "memory":
        yield OperatorStores(
            InMemoryApiKeyStore(), InMemoryAuditLog(), InMemoryUploadJobStore(), clock
        )
        return
    uri = (
        request.getfixturevalue("nx_uri")
        if request.param == "nx-27017"
        else os.environ[REAL_MONGODB_ENV]
    )
    connection = MongoConnection(uri, f"contract_{uuid.uuid4().hex[:12]}")
    await ensure_indexes(connection)
    try:
        yield OperatorStores(
            MongoApiKeyStore(connection),
            MongoAuditLog(connection),
            MongoUploadJobStore(connection),
            clock,
        )
    finally:
        await connection.client.drop_database(connection.db.name)
        await connection.aclose()


async def test_a_key_is_shown_once_stored_as_a_hash_and_authenticates(
    ops: OperatorStores,
) -> None:
    keys = ApiKeys(ops.keys, ops.clock)
    record, key = await keys.create("  ci   bot ", "viewer")
    assert key.startswith(f"pm_{record.id}_") and record.name == "ci bot"
    stored = await ops.keys.get(record.id)
    assert stored is not None and stored.role == "viewer"
    secret = key.split("_", 2)[2]
    assert secret not in stored.model_dump_json() and stored.secret_sha256 != secret
    caller = await keys.authenticate(key)
    assert caller == Caller(key_id=record.id, name="ci bot", role="viewer")
    assert not caller.is_admin


@pytest.mark.parametrize(
    "presented",
    [None, "", "Bearer x", "pm_123", "pm_000000000000_" + "A" * 43],
    ids=["none", "empty", "not-a-key", "truncated", "unknown-id"],
)
async def test_anything_but_a_known_key_is_unauthorized(
    ops: OperatorStores, presented: str | None
) -> None:
    keys = ApiKeys(ops.keys, ops.clock)
    await keys.create("admin", "admin")
    with pytest.raises(UnauthorizedError):
        await keys.authenticate(presented)


async def test_a_wrong_secret_for_a_real_id_is_refused(ops: OperatorStores) -> None:
    keys = ApiKeys(ops.keys, ops.clock)
    record, key = await keys.create("admin", "admin")
    forged = f"pm_{record.id}_{'B' * 43}"
    with pytest.raises(UnauthorizedError) as refused:
        await keys.authenticate(forged)
    assert forged not in str(refused.value) and key not in str(refused.value)


async def test_a_revoked_key_is_refused_and_stays_listed(ops: OperatorStores) -> None:
    keys = ApiKeys(ops.keys, ops.clock)
    first, first_key = await keys.create("first", "admin")
    ops.clock.advance(seconds=1)
    second, _ = await keys.create("second", "viewer")
    revoked = await keys.revoke(first.id)
    assert revoked.revoked and revoked.revoked_at == ops.clock.now()
    with pytest.raises(UnauthorizedError, match="revoked"):
        await keys.authenticate(first_key)
    assert [k.id for k in await keys.all()] == [first.id, second.id]
    assert (await keys.revoke(first.id)).revoked  # again: nothing changes
    with pytest.raises(NotFoundError):
        await keys.revoke("ffffffffffff")


async def test_last_used_is_written_at_most_once_a_minute(ops: OperatorStores) -> None:
    keys = ApiKeys(ops.keys, ops.clock)
    record, key = await keys.create("admin", "admin")
    await keys.authenticate(key)
    first = (await ops.keys.get(record.id)).last_used_at
    assert first == ops.clock.now()
    ops.clock.advance(seconds=30)
    await keys.authenticate(key)
    assert (await ops.keys.get(record.id)).last_used_at == first
    ops.clock.advance(seconds=31)
    await keys.authenticate(key)
    assert (await ops.keys.get(record.id)).last_used_at == ops.clock.now()


async def test_a_key_needs_a_name_and_a_known_role(ops: OperatorStores) -> None:
    keys = ApiKeys(ops.keys, ops.clock)
    with pytest.raises(InvalidRequestError) as nameless:
        await keys.create("   ", "admin")
    assert nameless.value.field == "name"
    with pytest.raises(InvalidRequestError) as roleless:
        await keys.create("x", "root")
    assert roleless.value.field == "role"


async def test_a_key_id_is_stored_once(ops: OperatorStores) -> None:
    record, _ = await ApiKeys(ops.keys, ops.clock).create("a", "admin")
    with pytest.raises(ConcurrentUpdateError):
        await ops.keys.add(record)


async def test_the_audit_log_pages_newest_first_and_never_repeats_under_inserts(
    ops: OperatorStores,
) -> None:
    audit = Audit(ops.audit, ops.clock)
    who = Caller(key_id="abc", name="ops", role="admin")
    for i in range(7):
        await audit.record(who, "archival.insert", agent=f"a{i % 2}", target=str(i))
        ops.clock.advance(seconds=1)
    seen: list[str] = []
    page = await audit.page(cursor=None, limit=3)
    seen += [e.target or "" for e in page.items]
    # writes between two page reads appear at the top, never in the pages still to come
    await audit.record(who, "checkins.create", agent="a0", target="new")
    while page.next_cursor is not None:
        page = await audit.page(cursor=page.next_cursor, limit=3)
        seen += [e.target or "" for e in page.items]
    assert seen == ["6", "5", "4", "3", "2", "1", "0"]
    only = await audit.page(cursor=None, limit=50, agent="a1")
    assert [e.target for e in only.items] == ["5", "3", "1"]
    assert only.next_cursor is None


async def test_an_audit_summary_is_short_and_on_one_line(ops: OperatorStores) -> None:
    audit = Audit(ops.audit, ops.clock)
    who = Caller(key_id="abc", name="ops", role="admin")
    await audit.record(who, "archival.insert", summary="line one\nline two " + "x" * 500)
    (entry,) = (await audit.page(cursor=None, limit=5)).items
    assert "\n" not in entry.summary and len(entry.summary) <= 200


async def test_an_upload_job_is_replaced_whole(ops: OperatorStores) -> None:
    now = ops.clock.now()
    job = UploadJob(
        id="j1", agent_key="a", filename="f.txt", status="running", created_at=now, updated_at=now
    )
    await ops.jobs.put(job)
    later = job.model_copy(
        update={"status": "stored", "done": 4, "total": 4, "passages": 4,
                "updated_at": now + timedelta(seconds=2)}
    )  # fmt: skip
    await ops.jobs.put(later)
    assert await ops.jobs.get("j1") == later
    assert await ops.jobs.get("nope") is None


async def test_the_directory_reads_agents_in_key_order_by_slices(stores: Stores) -> None:
    from adapters.inmemory.operator import InMemoryAgentDirectory
    from adapters.mongo.directory import MongoAgentDirectory

    directory = (
        MongoAgentDirectory(stores.connection)
        if stores.connection is not None
        else InMemoryAgentDirectory(stores.agents)
    )
    keys = ["discord:user:1", "slack:channel:T:C", "slack:user:T:U", "telegram:user:1",
            "telegram:user:2", "telegram:user:3"]  # fmt: skip
    for key in reversed(keys):
        now = stores.clock.now()
        await stores.agents.save(
            AgentState(agent_key=key, memory=WorkingContext(), created_at=now, updated_at=now),
            None,
        )
    assert await directory.keys_after(None, 100) == keys
    assert await directory.keys_after("slack:channel:T:C", 2) == keys[2:4]
    assert await directory.keys_after(None, 10, "slack:") == keys[1:3]
    assert await directory.keys_after("slack:channel:T:C", 10, "slack:") == keys[2:3]
    assert await directory.keys_after("a", 10, "telegram:") == keys[3:]
    assert await directory.keys_after("zz", 10) == []
    found = await directory.states(["telegram:user:2", "nobody", "discord:user:1"])
    assert [s.agent_key for s in found] == ["telegram:user:2", "discord:user:1"]
    assert await directory.states([]) == []
