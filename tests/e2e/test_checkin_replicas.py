"""Check-ins fired by three worker processes on one database, one of them killed with
SIGKILL while it holds claims: every check-in fires exactly once, none is missed."""

from __future__ import annotations

import asyncio
import re
import signal
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.mongo.checkins import MongoCheckinStore
from adapters.mongo.connection import MongoConnection
from adapters.mongo.schema import ensure_indexes
from core.checkins.values import Checkin, Schedule
from core.events import Address, UserMessageReceived
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply
from tests.support.processes import Collector, Recorder, start_worker

CHECKINS = 300
AGENTS = 6
LAST = re.compile(r"last word \d+")


def echo_note(body: dict) -> dict:
    """Answer the latest check-in with its note (so each delivery names its check-in), and
    the last word a test sends with itself."""
    for message in reversed(body["messages"]):
        content = str(message.get("content"))
        if found := LAST.search(content):
            return tool_reply("send_message", {"message": found.group()})
        if "check-in due: " in content:
            return tool_reply("send_message", {"message": content.split("check-in due: ", 1)[1]})
    return tool_reply("send_message", {"message": "?"})


def last_word(agent: int) -> UserMessageReceived:
    return UserMessageReceived(
        event_id=f"last-word:{agent}",
        agent_key=f"telegram:user:{agent}",
        occurred_at=datetime.now(UTC),
        text=f"last word {agent}",
        reply_to=Address(platform="test", channel_id=str(agent), is_direct=True),
    )


async def test_three_replicas_fire_each_check_in_once_despite_a_kill(
    nx_uri: str, tmp_path: Path
) -> None:
    connection = MongoConnection(nx_uri, f"ck_{uuid.uuid4().hex[:8]}")
    await ensure_indexes(connection)
    store = MongoCheckinStore(connection)
    async with ScriptedOpenAIServer(default=echo_note) as server, Collector() as collector:  # type: ignore[arg-type]
        base = {
            "PAGEMIND_MONGODB_URI": nx_uri,
            "PAGEMIND_MONGODB_DATABASE": connection.db.name,
            "PAGEMIND_LLM_BASE_URL": server.base_url,
            "PAGEMIND_LLM_MODEL": "scripted",
            "PAGEMIND_CONTEXT_WINDOW": "128000",
            "PAGEMIND_LEASE_TTL": "4",
            "PAGEMIND_INBOX_POLL_SECONDS": "0.1",
            "PAGEMIND_CHECKIN_POLL_SECONDS": "0.5",
            "PAGEMIND_CHECKIN_CLAIM_SECONDS": "10",
            "PAGEMIND_CHECKIN_SKIP_IF_ACTIVE_MINUTES": "0",
            "PAGEMIND_DATA_DIR": str(tmp_path),
        }
        w1_fast = {"PAGEMIND_CHECKIN_POLL_SECONDS": "0.05"}  # w1 claims early and often
        workers = {
            name: await start_worker(
                {**base, "PAGEMIND_WORKER_NAME": name, **(w1_fast if name == "w1" else {})},
                collector,
                tmp_path / f"{name}.log",
            )
            for name in ("w1", "w2", "w3")
        }
        try:
            # Due once every worker runs (they take seconds to start on a busy machine).
            # 300 due within 1.5 s: big claim batches
            start = datetime.now(UTC) + timedelta(seconds=2)
            for i in range(CHECKINS):
                due = start + timedelta(milliseconds=5 * i)
                await store.add(
                    Checkin(
                        id=f"ck{i:03d}",
                        agent_key=f"telegram:user:{i % AGENTS}",
                        note=f"note {i}",
                        schedule=Schedule(kind="once", at=due),
                        timezone="UTC",
                        created_by="operator",
                        created_at=datetime.now(UTC),
                        next_due=due,
                        address=Address(
                            platform="test", channel_id=str(i % AGENTS), is_direct=True
                        ),
                    )
                )
            victim = workers["w1"].process
            held: list[str] = []

            async def claims_of_w1() -> list[str]:
                now = datetime.now(UTC).timestamp()
                found = connection.db["checkins"].find(
                    {"claim": {"$regex": "^w1:"}, "claim_until": {"$gt": now}}, {"_id": 1}
                )
                return [d["_id"] async for d in found]

            deadline = asyncio.get_running_loop().time() + 30
            while not held and asyncio.get_running_loop().time() < deadline:
                if not await claims_of_w1():
                    await asyncio.sleep(0.005)
                    continue
                victim.send_signal(signal.SIGSTOP)  # it has just claimed a batch: freeze it...
                held = await claims_of_w1()
                if held:
                    victim.send_signal(signal.SIGKILL)  # ...and kill it while it holds them
                    await victim.wait()
                else:
                    victim.send_signal(signal.SIGCONT)  # settled meanwhile: catch its next batch
            assert held, (
                "w1 was never caught holding a claim:\n" + (tmp_path / "w1.log").read_text()[-3000:]
            )

            await collector.wait_for(CHECKINS, timeout=90)
            # The dead worker's claims are settled by others once its claim lease runs out.
            settle_by = asyncio.get_running_loop().time() + 45
            while await connection.db["checkins"].find_one({"next_due": {"$ne": None}}):
                assert asyncio.get_running_loop().time() < settle_by, "check-ins left unsettled"
                await asyncio.sleep(0.2)
            # Every check-in was recorded in the inbox before it was settled, so any second
            # turn of one is queued by now. One more message per agent, recorded after all of
            # them, is answered only after everything queued before it for that agent.
            recorder = Recorder(connection)
            for agent in range(AGENTS):
                assert await recorder.put(last_word(agent))
            await collector.wait_until(
                lambda replies: (
                    {r["text"] for r in replies if LAST.fullmatch(r["text"])}
                    == {f"last word {agent}" for agent in range(AGENTS)}
                ),
                "every agent's last word answered",
                timeout=60,
            )
        finally:
            for worker in workers.values():  # stops the survivors; the victim is gone
                await worker.stop()

    # One turn per check-in: every delivery of a check-in carries the same idempotency key.
    last_words = [r for r in collector.replies if LAST.fullmatch(r["text"])]
    assert len(last_words) == AGENTS, last_words
    replies = [r for r in collector.replies if not LAST.fullmatch(r["text"])]
    keys: dict[str, set[str]] = {}
    for reply in replies:
        keys.setdefault(reply["text"], set()).add(reply["idempotency_key"])
    assert set(keys) == {f"note {i}" for i in range(CHECKINS)}, "none missed"
    twice = {
        note: sorted((r["idempotency_key"], r["worker"]) for r in replies if r["text"] == note)
        for note, k in keys.items()
        if len(k) > 1
    }
    assert not twice, f"a check-in was processed twice (victim {victim.pid}): {twice}"
    # A platform honouring the idempotency key (Discord's nonce) shows each once. Without
    # one, a reply sent by the killed worker just before it could mark its event done is
    # sent again by the next owner: only that worker's in-flight replies may repeat.
    repeats = Counter(r["idempotency_key"] for r in replies)
    for key, count in repeats.items():
        if count > 1:
            senders = {r["worker"] for r in replies if r["idempotency_key"] == key}
            assert victim.pid in senders, f"{key} repeated without the killed worker"
    survivors = {workers[name].process.pid for name in ("w2", "w3")}
    assert {r["worker"] for r in replies} & survivors, "the survivors took over"
    await connection.client.drop_database(connection.db.name)
    await connection.aclose()
