"""Check-ins at scale: many due at once, several worker processes, one database.

``--checkins`` one-off check-ins (default 10,000) spread evenly over ``--window`` seconds
(default 60) across ``--agents`` agents (default 200) are written to a fresh database on the
embedded nx-27017, then ``--workers`` real worker processes (default 2; the service exactly
as ``pagemind run`` builds it, replies POSTed to a collector in this process) claim and fire
them. The language model is a scripted OpenAI-compatible server on 127.0.0.1 (a test
double): every check-in turn is one ``send_message`` repeating the check-in's note, so each
delivered message names its check-in.

    python -m bench.checkins [--checkins 10000] [--agents 200] [--workers 2] [--window 60]
        [--poll 1] [--lead 20] [--timeout 600] [--keep-logs DIR]

Measured:

* fired: check-ins whose timer event entered an agent's queue (the ``fired`` counter the
  claiming worker sets in the database when it settles the claim).
* duplicates: check-ins fired more than once, plus check-ins whose note reached the user
  under more than one idempotency key (two turns for one check-in).
* missed: check-ins never fired, or whose message never reached the collector.
* lateness: fire lateness is the moment the claiming worker fired the timer event minus the
  due time (what the target is about: the event enters the queue on time); delivery lateness
  is the moment the reply reached the collector minus the due time (fire lateness plus the
  queue wait and the turn itself).

Last line: fired=<n> duplicates=<d> missed=<m> lateness_p99_s=<x> (fire lateness)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.mongo.checkins import MongoCheckinStore
from adapters.mongo.connection import MongoConnection
from adapters.mongo.schema import ensure_indexes
from core.checkins.values import Checkin, Schedule
from core.events import Address
from tests.support.mongo import nx_server
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply
from tests.support.processes import Collector, Worker, start_worker

MARK = "check-in due: "


def echo_note(body: dict[str, Any]) -> dict[str, Any]:
    """Answer the newest check-in in the prompt by repeating its note."""
    for message in reversed(body["messages"]):
        content = str(message.get("content"))
        if MARK in content:
            return tool_reply("send_message", {"message": content.split(MARK, 1)[1]})
    return tool_reply("send_message", {"message": "?"})


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def write_checkins(
    store: MongoCheckinStore, count: int, agents: int, start: datetime, window: float
) -> dict[str, datetime]:
    due_of: dict[str, datetime] = {}
    step = window / count
    batch: list[Checkin] = []
    for i in range(count):
        due = start + timedelta(seconds=i * step)
        checkin_id = f"b{i:05d}"
        due_of[checkin_id] = due
        agent = i % agents
        batch.append(
            Checkin(
                id=checkin_id,
                agent_key=f"bench:user:{agent}",
                note=f"note {checkin_id}",
                schedule=Schedule(kind="once", at=due),
                timezone="UTC",
                created_by="operator",
                created_at=datetime.now(UTC),
                next_due=due,
                address=Address(platform="bench", channel_id=str(agent), is_direct=True),
            )
        )
        if len(batch) == 50 or i == count - 1:
            await asyncio.gather(*(store.add(c) for c in batch))
            batch = []
    return due_of


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="pagemind-bench-checkins-") as tmp, nx_server() as uri:
        tmp_path = Path(tmp)
        connection = MongoConnection(uri, f"bench_{uuid.uuid4().hex[:8]}")
        await ensure_indexes(connection)
        store = MongoCheckinStore(connection)
        server = ScriptedOpenAIServer(default=echo_note)  # type: ignore[arg-type]
        async with server, Collector() as collector:
            env = {
                "PAGEMIND_MONGODB_URI": uri,
                "PAGEMIND_MONGODB_DATABASE": connection.db.name,
                "PAGEMIND_LLM_BASE_URL": server.base_url,
                "PAGEMIND_LLM_MODEL": "scripted",
                "PAGEMIND_CONTEXT_WINDOW": "128000",
                "PAGEMIND_CHECKIN_POLL_SECONDS": str(args.poll),
                "PAGEMIND_CHECKIN_SKIP_IF_ACTIVE_MINUTES": "0",
                "PAGEMIND_DATA_DIR": str(tmp_path),
                "PAGEMIND_LOG_LEVEL": "WARNING",
            }
            workers: list[Worker] = []
            for n in range(args.workers):
                name = f"w{n + 1}"
                workers.append(
                    await start_worker(
                        {**env, "PAGEMIND_WORKER_NAME": name}, collector, tmp_path / f"{name}.log"
                    )
                )
            written = time.perf_counter()
            start = datetime.now(UTC) + timedelta(seconds=args.lead)
            due_of = await write_checkins(store, args.checkins, args.agents, start, args.window)
            written = time.perf_counter() - written
            if datetime.now(UTC) > start:
                print(f"warning: writing took {written:.1f} s, past the first due time")
            with contextlib.suppress(AssertionError):  # missed ones are counted below
                await collector.wait_for(
                    args.checkins, timeout=args.window + args.lead + args.timeout
                )
            await asyncio.sleep(3)  # a late duplicate would arrive by now
            for worker in workers:
                await worker.stop()
            if args.keep_logs is not None:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for worker in workers:
                    shutil.copy(worker.log, args.keep_logs / worker.log.name)
            docs = [d async for d in connection.db["checkins"].find({})]
            await connection.client.drop_database(connection.db.name)
            await connection.aclose()
    # Each reply's arrival time is taken by the collector as it arrives, so replies that
    # come late (while the workers stop) have one too.
    report(args, due_of, docs, collector.replies, collector.arrived, written)


def report(
    args: argparse.Namespace,
    due_of: dict[str, datetime],
    docs: list[dict[str, Any]],
    replies: list[dict[str, Any]],
    received: list[float],
    written: float,
) -> None:
    fired_count = {d["_id"]: int(d.get("fired", 0)) for d in docs}
    fire_late = [
        d["last_fired"] - due_of[d["_id"]].timestamp() for d in docs if d.get("last_fired")
    ]
    keys: dict[str, set[str]] = defaultdict(set)
    first_delivery: dict[str, float] = {}
    for index, reply in enumerate(replies):
        checkin_id = str(reply["text"]).removeprefix("note ")
        keys[checkin_id].add(reply["idempotency_key"])
        first_delivery.setdefault(checkin_id, received[index])
    deliver_late = [t - due_of[c].timestamp() for c, t in first_delivery.items() if c in due_of]
    fired = sum(1 for n in fired_count.values() if n >= 1)
    duplicates = sum(1 for c in due_of if fired_count.get(c, 0) > 1 or len(keys.get(c, ())) > 1)
    resent = sum(1 for r in replies) - len(first_delivery)
    missed = sum(1 for c in due_of if fired_count.get(c, 0) == 0 or c not in first_delivery)
    print(
        f"{args.checkins:,} one-off check-ins due within {args.window:.0f} s across "
        f"{args.agents} agents; {args.workers} worker processes on nx-27017; looking at least "
        f"every {args.poll} s (PAGEMIND_CHECKIN_POLL_SECONDS); written in {written:.1f} s"
    )
    print()
    print(f"{'metric':<34}{'value':>12}")
    print(f"{'fired':<34}{fired:>12,}")
    print(f"{'duplicates (fired or turned twice)':<34}{duplicates:>12,}")
    print(f"{'same reply re-sent (same key)':<34}{resent:>12,}")
    print(f"{'missed':<34}{missed:>12,}")
    for label, values in (("fire lateness s", fire_late), ("delivery lateness s", deliver_late)):
        if values:
            print(f"{label + ' p50':<34}{statistics.median(values):>12.2f}")
            print(f"{label + ' p99':<34}{quantile(values, 0.99):>12.2f}")
            print(f"{label + ' max':<34}{max(values):>12.2f}")
    if deliver_late:
        last = max(first_delivery.values()) - min(d.timestamp() for d in due_of.values())
        print(f"{'turns per second (delivered)':<34}{len(first_delivery) / last:>12.1f}")
    print()
    print(
        f"fired={fired} duplicates={duplicates} missed={missed} "
        f"lateness_p99_s={quantile(fire_late, 0.99):.2f}"
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkins", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--window", type=float, default=60.0, help="seconds the dues span")
    parser.add_argument("--poll", type=float, default=1.0, help="PAGEMIND_CHECKIN_POLL_SECONDS")
    parser.add_argument("--lead", type=float, default=20.0, help="seconds before the first due")
    parser.add_argument("--timeout", type=float, default=600.0, help="wait after the last due")
    parser.add_argument("--keep-logs", type=Path, help="copy the workers' logs here")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    cli()
