"""Leases across workers and schema migrations, on nx-27017 (and a real MongoDB if given)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

from adapters.mongo.connection import MongoConnection
from adapters.mongo.leases import MongoLeases
from adapters.mongo.schema import Migration, migrate
from core.clock import SystemClock
from tests.support.agents import ManualClock
from tests.support.mongo import die_with_parent

ROOT = Path(__file__).resolve().parents[2]


async def test_one_worker_per_agent_and_takeover_after_expiry(connection: MongoConnection) -> None:
    clock = ManualClock()
    a = MongoLeases(connection, clock, ttl=15, worker_id="A")
    b = MongoLeases(connection, clock, ttl=15, worker_id="B")
    assert await a.acquire("agent-1")
    assert not await b.acquire("agent-1"), "a live lease is exclusive"
    assert await a.acquire("agent-1"), "the owner may re-acquire"
    assert a.holds("agent-1") and not b.holds("agent-1")
    clock.advance(seconds=6)
    assert not await a.renew()  # renewed: still A's
    clock.advance(seconds=14)
    assert not await b.acquire("agent-1"), "renewal kept it"
    clock.advance(seconds=16)  # A died: no renewal for longer than the TTL
    assert not a.holds("agent-1")
    assert await b.acquire("agent-1"), "taken over after expiry"
    assert await a.renew() == ["agent-1"], "A learns it lost the lease"
    await b.release("agent-1")
    assert await a.acquire("agent-1"), "a released lease is free at once"


async def test_leases_of_different_agents_never_interfere(connection: MongoConnection) -> None:
    clock = ManualClock()
    a = MongoLeases(connection, clock, ttl=15, worker_id="A")
    b = MongoLeases(connection, clock, ttl=15, worker_id="B")
    for i in range(5):
        assert await a.acquire(f"agent-{i}")
    clock.advance(seconds=20)  # every lease of A has expired
    assert await a.acquire("agent-0"), "A renews one of them"
    assert await b.acquire("agent-3"), "B takes over an expired one"
    assert not await b.acquire("agent-0"), "A's renewed lease is not B's to take"
    owners = {d["_id"]: d["owner"] async for d in connection.db["leases"].find()}
    assert owners == {
        "agent-0": "A",
        "agent-1": "A",
        "agent-2": "A",
        "agent-3": "B",
        "agent-4": "A",
    }


async def test_workers_see_their_peers(connection: MongoConnection) -> None:
    clock = ManualClock(datetime.now(UTC))  # heartbeats expire by the server's TTL clock
    a = MongoLeases(connection, clock, ttl=15, worker_id="A")
    b = MongoLeases(connection, clock, ttl=15, worker_id="B")
    await a.renew()
    assert not a.has_peers
    await b.renew()
    await a.renew()
    assert a.has_peers and b.has_peers
    clock.advance(seconds=30)
    await a.renew()
    assert not a.has_peers, "a silent worker stops counting after its TTL"


async def test_only_one_of_many_concurrent_acquirers_wins(connection: MongoConnection) -> None:
    clock = ManualClock()
    workers = [MongoLeases(connection, clock, ttl=15, worker_id=f"W{i}") for i in range(5)]
    won = await asyncio.gather(*(w.acquire("hot-agent") for w in workers))
    assert sum(won) == 1


async def test_migrations_upgrade_old_documents_once_and_idempotently(
    connection: MongoConnection,
) -> None:
    clock = ManualClock()
    agents = connection.db["agents"]
    # Data as a previous schema wrote it: the working context as one flat string.
    await agents.insert_one({"_id": "old", "v": 1, "version": 3, "persona_text": "I am Page."})
    await connection.db["meta"].insert_one({"_id": "schema", "version": 1})
    calls = []

    async def split_persona(db) -> None:
        calls.append(1)
        async for doc in db["agents"].find({"v": 1}):
            await db["agents"].update_one(
                {"_id": doc["_id"], "v": 1},
                {
                    "$set": {
                        "v": 2,
                        "blocks": [{"label": "persona", "value": doc["persona_text"]}],
                    },
                    "$unset": {"persona_text": ""},
                },
            )

    migration = Migration(2, "working context as labelled blocks", split_persona)
    assert await migrate(connection, clock, [migration], target=2) == [2]
    doc = await agents.find_one({"_id": "old"})
    assert doc["v"] == 2 and doc["blocks"] == [{"label": "persona", "value": "I am Page."}]
    assert "persona_text" not in doc
    assert await migrate(connection, clock, [migration], target=2) == [], "already applied"
    assert calls == [1]
    # a crash half-way re-runs the step: it must be idempotent
    await split_persona(connection.db)
    assert (await agents.find_one({"_id": "old"}))["blocks"][0]["value"] == "I am Page."


async def test_a_fresh_database_starts_at_the_current_schema(connection: MongoConnection) -> None:
    applied = await migrate(
        connection, ManualClock(), [Migration(2, "x", lambda db: asyncio.sleep(0))], target=2
    )
    assert applied == []
    assert (await connection.db["meta"].find_one({"_id": "schema"}))["version"] == 2


HOLDER = """
import asyncio, sys
from adapters.mongo.connection import MongoConnection
from adapters.mongo.leases import MongoLeases
from core.clock import SystemClock

async def main():
    connection = MongoConnection(sys.argv[1], sys.argv[2])
    leases = MongoLeases(connection, SystemClock(), ttl=600, worker_id="doomed")
    assert await leases.acquire("agent-x")
    print("held", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_a_lease_of_a_dead_process_on_this_machine_is_taken_over_at_once(
    connection: MongoConnection,
) -> None:
    """Another real process takes a lease for ten minutes and is killed with SIGKILL: a
    worker on the same machine sees its process has gone and takes the agent at once."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, connection.uri, connection.db.name,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, preexec_fn=die_with_parent,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 60) == b"held\n"
        me = MongoLeases(connection, SystemClock(), ttl=600, worker_id="me")
        assert not await me.acquire("agent-x"), "a live process's lease is its own"
        holder = me.holder("agent-x")
        assert holder is not None and holder.worker == "doomed" and holder.running is True
        assert holder.where == f"pid {process.pid} on {socket.gethostname()}"
        assert 590 < holder.expires_in <= 600
    finally:
        process.kill()
        await process.wait()
    assert await me.acquire("agent-x"), "its process has ended: taken over at once"
    doc = await connection.db["leases"].find_one({"_id": "agent-x"})
    assert doc["owner"] == "me" and doc["epoch"] == 2


async def test_a_holder_on_another_machine_is_waited_for_until_its_lease_runs_out(
    connection: MongoConnection,
) -> None:
    clock = ManualClock(datetime.now(UTC))
    elsewhere = {
        "machine": "another-boot/pid:[1]",
        "network": "another-boot/net:[1]",
        "pid": os.getpid(),  # a pid that runs here means nothing over there
        "started": 1,
        "host": "other-host",
    }
    await connection.db["leases"].insert_one(
        {
            "_id": "agent-y",
            "owner": "far",
            "epoch": 1,
            "expires": clock.now().timestamp() + 15,
            "process": elsewhere,
            "wake": 1,
        }
    )
    me = MongoLeases(connection, clock, ttl=15, worker_id="me")
    assert not await me.acquire("agent-y")
    holder = me.holder("agent-y")
    assert holder is not None and holder.running is None, "this machine cannot tell"
    assert holder.where == f"pid {os.getpid()} on other-host" and holder.expires_in == 15
    clock.advance(seconds=16)
    assert await me.acquire("agent-y"), "taken over once its lease ran out"


async def test_a_worker_rings_the_holder_and_a_newcomer_waits_until_peers_know_it(
    connection: MongoConnection,
) -> None:
    holder = MongoLeases(connection, SystemClock(), ttl=600, worker_id="holder")
    rung: list[list[str]] = []
    holder.doorbell.listeners.agents = lambda keys: rung.append(list(keys))
    await holder.introduce()
    assert await holder.acquire("agent-z")
    maintained = asyncio.ensure_future(holder.maintain(lambda keys: None, lambda: None))
    try:
        newcomer = MongoLeases(connection, SystemClock(), ttl=600, worker_id="newcomer")
        assert not holder.has_peers
        await newcomer.introduce()  # the holder renews its heartbeat when asked (600 s TTL)
        assert holder.has_peers and newcomer.has_peers, "each knows the other"
        assert not await newcomer.acquire("agent-z")
        await newcomer.nudge("agent-z")
        deadline = asyncio.get_running_loop().time() + 10
        while not rung:
            assert asyncio.get_running_loop().time() < deadline, "the holder was never rung"
            await asyncio.sleep(0.01)
        assert rung == [["agent-z"]]
    finally:
        maintained.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await maintained
        newcomer.doorbell.close()
    assert await newcomer.acquire("agent-z"), "a stopped holder hands its leases back"


async def test_two_workers_introducing_themselves_at_once_do_not_wait_for_each_other(
    connection: MongoConnection,
) -> None:
    """Both start together (neither renews its heartbeat in the background yet): each asks
    the other on this machine to renew, and each answers while it waits, so both are done
    long before the 600 s TTL."""
    first = MongoLeases(connection, SystemClock(), ttl=600, worker_id="first")
    second = MongoLeases(connection, SystemClock(), ttl=600, worker_id="second")
    await first.heartbeat()
    await second.heartbeat()  # each is already registered when the other looks
    try:
        await asyncio.wait_for(asyncio.gather(first.introduce(), second.introduce()), 60)
        assert first.has_peers and second.has_peers
    finally:
        first.doorbell.close()
        second.doorbell.close()
