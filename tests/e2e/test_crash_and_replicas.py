"""Real worker processes on one database: killed mid-turn, and two replicas at once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.mongo.agents import MongoAgentStore
from adapters.mongo.archival import MongoArchivalStore
from adapters.mongo.connection import MongoConnection
from adapters.mongo.inbox import MongoInbox
from adapters.mongo.recall import MongoRecallStore
from adapters.mongo.schema import ensure_indexes
from core.clock import SystemClock
from core.events import Address, UserMessageReceived
from core.inbound.agent_data import logged_messages
from core.messages import Message
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply
from tests.support.processes import Collector, Recorder, start_worker

AGENT = "telegram:user:7"


@pytest.fixture
async def database(nx_uri: str) -> AsyncIterator[MongoConnection]:
    connection = MongoConnection(nx_uri, f"e2e_{uuid.uuid4().hex[:10]}")
    await ensure_indexes(connection)
    yield connection
    await connection.client.drop_database(connection.db.name)
    await connection.aclose()


def worker_env(
    connection: MongoConnection, server: ScriptedOpenAIServer, tmp: Path
) -> dict[str, str]:
    return {
        "PAGEMIND_MONGODB_URI": connection.uri,
        "PAGEMIND_MONGODB_DATABASE": connection.db.name,
        "PAGEMIND_LLM_BASE_URL": server.base_url,
        "PAGEMIND_LLM_MODEL": "scripted",
        "PAGEMIND_LLM_MAX_RETRIES": "0",
        "PAGEMIND_LEASE_TTL": "2",
        "PAGEMIND_INBOX_POLL_SECONDS": "0.1",
        "PAGEMIND_DATA_DIR": str(tmp),
    }


def message(i: int, text: str) -> UserMessageReceived:
    return UserMessageReceived(
        event_id=f"tg:update:{i}",
        agent_key=AGENT,
        occurred_at=datetime.now(UTC),
        text=text,
        reply_to=Address(platform="telegram", channel_id="7", is_direct=True),
    )


async def stored_log(database: MongoConnection) -> list[Message]:
    """The agent's whole stored log: recall, and the last step's messages in its state."""
    state = await MongoAgentStore(database).load(AGENT)
    assert state is not None
    return await logged_messages(state, MongoRecallStore(database))


LATER_ID = "tg:update:2"
LATER_ANSWER = "Noted, thanks."
LATER_KINDS = ["user_message", "assistant", "tool_result"]


async def answer_a_later_message(
    collector: Collector, database: MongoConnection, server: ScriptedOpenAIServer
) -> None:
    """Record one more message for the agent and wait for its answer. Events of one agent
    are answered in the order they were recorded, so whatever the worker would have run
    again (a duplicate of an earlier event) has been answered, and collected, before it."""
    server.add(tool_reply("send_message", {"message": LATER_ANSWER}))
    assert await Recorder(database).put(message(2, "thanks"))
    await collector.wait_until(
        lambda replies: any(r["text"] == LATER_ANSWER for r in replies), "the later answer"
    )


def answer_with_echo(body: dict) -> dict:
    last = body["messages"][-1]["content"]
    return tool_reply("send_message", {"message": f"echo: {last.split('] ', 1)[-1]}"})


async def test_a_worker_killed_mid_turn_loses_nothing_and_answers_once(
    database: MongoConnection, tmp_path: Path
) -> None:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def stuck_mid_chain(body: dict) -> dict:
        arrived.set()
        await release.wait()
        return tool_reply("send_message", {"message": "too late"})

    async with ScriptedOpenAIServer() as server, Collector() as collector:
        # step 1 is stored (an archival insert with a heartbeat); the process dies in step 2
        server.add(
            tool_reply(
                "archival_memory_insert",
                {"content": "Ana's flight is LX 1234", "request_heartbeat": True},
            ),
            stuck_mid_chain,
        )
        env = worker_env(database, server, tmp_path)
        first = await start_worker(env, collector, tmp_path / "w1.log")
        inbox = MongoInbox(database, SystemClock())
        assert await Recorder(database).put(message(1, "remember my flight LX 1234"))
        await asyncio.wait_for(arrived.wait(), 30)
        await first.kill()
        release.set()
        server.add(tool_reply("send_message", {"message": "Saved your flight."}))
        second = await start_worker(env, collector, tmp_path / "w2.log")
        await collector.wait_for(1)
        await answer_a_later_message(collector, database, server)
        await second.stop()

    assert [r["text"] for r in collector.replies] == ["Saved your flight.", LATER_ANSWER]
    assert {r["worker"] for r in collector.replies} == {second.process.pid}
    assert await inbox.pending() == []
    recall = await stored_log(database)
    kinds = [m.kind for m in recall]
    assert kinds == [
        "user_message", "assistant", "tool_result", "assistant", "tool_result", *LATER_KINDS
    ], kinds  # fmt: skip
    assert [m.seq for m in recall] == [1, 2, 3, 4, 5, 6, 7, 8]
    passages = await MongoArchivalStore(database).all(AGENT)
    assert [p.text for p in passages] == ["Ana's flight is LX 1234"], "stored once"
    state = await MongoAgentStore(database).load(AGENT)
    assert state is not None and state.last_event_id == LATER_ID and not state.chain_open
    # the resumed call continued the stored chain: the user's message appears once
    resumed = server.requests[-2][1]["messages"]
    assert sum("remember my flight" in str(m.get("content")) for m in resumed) == 1


async def test_a_worker_killed_before_its_first_step_is_stored(
    database: MongoConnection, tmp_path: Path
) -> None:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def stuck(body: dict) -> dict:
        arrived.set()
        await release.wait()
        return tool_reply("send_message", {"message": "too late"})

    async with ScriptedOpenAIServer() as server, Collector() as collector:
        server.add(stuck)
        env = worker_env(database, server, tmp_path)
        first = await start_worker(env, collector, tmp_path / "w1.log")
        await Recorder(database).put(message(1, "hello?"))
        await asyncio.wait_for(arrived.wait(), 30)
        await first.kill()
        release.set()
        server.add(tool_reply("send_message", {"message": "Hello!"}))
        second = await start_worker(env, collector, tmp_path / "w2.log")
        await collector.wait_for(1)
        await answer_a_later_message(collector, database, server)
        await second.stop()
    assert [r["text"] for r in collector.replies] == ["Hello!", LATER_ANSWER]
    recall = await stored_log(database)
    assert [m.kind for m in recall] == ["user_message", "assistant", "tool_result", *LATER_KINDS]


async def test_two_replicas_process_each_event_once_in_order(
    database: MongoConnection, tmp_path: Path
) -> None:
    async with ScriptedOpenAIServer(default=answer_with_echo) as server, Collector() as collector:  # type: ignore[arg-type]
        env = worker_env(database, server, tmp_path)
        a = await start_worker(env, collector, tmp_path / "a.log")
        b = await start_worker(env, collector, tmp_path / "b.log")
        inbox = MongoInbox(database, SystemClock())
        recorder = Recorder(database)
        count = 20
        for i in range(count):
            assert await recorder.put(message(i, f"message {i}"))
            await asyncio.sleep(0.05 if i % 3 else 0.3)
        assert not await recorder.put(message(3, "message 3")), "a redelivery is dropped"
        # The last message, recorded after the redelivery: answered after anything before it.
        assert await recorder.put(message(count, f"message {count}"))
        await collector.wait_until(
            lambda replies: any(r["text"] == f"echo: message {count}" for r in replies),
            "the last message answered",
            timeout=60,
        )
        await a.stop()
        await b.stop()
    texts = [r["text"] for r in collector.replies]
    assert texts == [f"echo: message {i}" for i in range(count + 1)], texts
    assert Counter(r["idempotency_key"] for r in collector.replies).most_common(1)[0][1] == 1
    recall = await stored_log(database)
    users = [m.content for m in recall if m.kind == "user_message"]
    assert users == [f"message {i}" for i in range(count + 1)]
    assert await inbox.pending() == []
