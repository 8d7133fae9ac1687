"""How a worker hears of other processes' events without polling: the change stream's
server-side filter (used only where the server has real change streams: replica sets; run
here against nx-27017, which implements them as a busy loop, and a real MongoDB if given),
and whether the dispatcher must poll often."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime

from adapters.mongo.connection import MongoConnection
from adapters.mongo.inbox import MongoInbox
from adapters.mongo.leases import MongoLeases
from adapters.mongo.signals import MongoInboxSignals, has_change_streams
from core.clock import SystemClock
from core.events import UserMessageReceived


def event(agent: str) -> UserMessageReceived:
    return UserMessageReceived(
        event_id=f"ev-{uuid.uuid4().hex}", agent_key=agent, occurred_at=datetime.now(UTC), text="hi"
    )


async def test_the_change_stream_reports_other_workers_events_only(
    connection: MongoConnection,
) -> None:
    clock = SystemClock()
    me = MongoLeases(connection, clock, worker_id="me")
    signals = MongoInboxSignals(connection, me, change_streams=True, max_await=0.5)
    heard: asyncio.Queue[tuple[list[str], bool]] = asyncio.Queue()
    listening = asyncio.ensure_future(
        signals.listen(lambda keys, mine: heard.put_nowait((list(keys), mine)))
    )
    mine, theirs = (
        MongoInbox(connection, clock, worker_id="me"),
        MongoInbox(connection, clock, worker_id="other"),
    )
    try:
        # Once a probe from another worker is heard, the stream is live (nx-27017 starts
        # it lazily); then this worker's event, another's, and one from pagemind ingest.
        while True:
            await theirs.put(event("probe"))
            with contextlib.suppress(TimeoutError):
                assert await asyncio.wait_for(heard.get(), 1) == (["probe"], False)
                break
        while not heard.empty():
            heard.get_nowait()
        await mine.put(event("own-agent"))
        await theirs.put(event("their-agent"))
        await MongoInbox(connection, clock).put(event("ingested-agent"))
        got = [await asyncio.wait_for(heard.get(), 30) for _ in range(2)]
        while got[0] == (["probe"], False):  # a late echo of the probes
            got = [*got[1:], await asyncio.wait_for(heard.get(), 30)]
        assert got == [(["their-agent"], False), (["ingested-agent"], False)], (
            "in order, without this worker's own event"
        )
    finally:
        while not listening.done():  # PyMongo's async cursors can lose a cancellation
            listening.cancel()
            await asyncio.wait({listening}, timeout=0.5)


async def test_without_change_streams_polling_is_needed_only_for_peers_out_of_reach(
    connection: MongoConnection,
) -> None:
    clock = SystemClock()
    me = MongoLeases(connection, clock, worker_id="me")
    signals = MongoInboxSignals(connection, me, change_streams=False)
    await me.heartbeat()
    assert signals.complete(), "alone"
    peer = MongoLeases(connection, clock, worker_id="peer")
    await peer.doorbell.open()
    try:
        await peer.heartbeat()
        await me.heartbeat()
        assert me.has_peers and signals.complete(), "a peer on this machine rings"
        await connection.db["workers"].update_one(
            {"_id": "far"},
            {
                "$set": {
                    "expires": datetime.now(UTC).timestamp() + 60,
                    "process": {"machine": "b/p", "network": "b/n", "pid": 1, "started": 1},
                    "wake": 40000,
                }
            },
            upsert=True,
        )
        await me.heartbeat()
        assert not signals.complete(), "a peer on another machine cannot ring"
    finally:
        peer.doorbell.close()


async def test_nx_27017_is_not_taken_for_a_server_with_change_streams(nx_uri: str) -> None:
    connection = MongoConnection(nx_uri, "hello")
    try:
        assert not await has_change_streams(connection)
    finally:
        await connection.aclose()
