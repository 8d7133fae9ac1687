"""MongoDB store benchmark: round trips per turn, recall and archival search latency.

    python -m bench.store [--messages 100000] [--passages 100000] [--queries 200]

Runs on nx-27017 (started here, in a temporary directory), and also on a real MongoDB when
PAGEMIND_BENCH_MONGODB_URI is set. Messages and passages are LoCoMo turns (Maharana et al.
2024; ../shared/data/locomo-dev.json, from the public repository snap-research/LoCoMo),
repeated with a counter to reach the requested size; queries are LoCoMo questions.

Last line: roundtrips_per_turn=<n> recall_search_ms_p95=<x> archival_search_ms_p95=<y>
(nx-27017 numbers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from adapters.mongo.agents import MongoAgentStore
from adapters.mongo.archival import MongoArchivalStore
from adapters.mongo.connection import MongoConnection
from adapters.mongo.inbox import MongoInbox
from adapters.mongo.leases import MongoLeases
from adapters.mongo.recall import MongoRecallStore
from adapters.mongo.schema import ensure_indexes
from core.clock import SystemClock
from core.dispatch import AgentDispatcher
from core.events import Address, UserMessageReceived
from core.messages import Message
from core.records import ArchivalQuery, Passage, RecallQuery
from tests.support.agents import Harness
from tests.support.mongo import nx_server
from tests.support.scripted import ScriptedModel, say

LOCOMO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "locomo-dev.json"
AGENT = "bench:user:1"


@dataclass
class Monitor(CommandListener):
    """Counts the commands the driver sends (round trips) and the time they take."""

    counting: bool = False
    commands: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def started(self, event: CommandStartedEvent) -> None:
        if self.counting and event.command_name not in ("endSessions", "hello", "ismaster"):
            collection = event.command.get(event.command_name)
            self.commands[f"{event.command_name} {collection}"] += 1

    def succeeded(self, event: CommandSucceededEvent) -> None:
        if self.counting:
            self.seconds += event.duration_micros / 1e6

    def failed(self, event: CommandFailedEvent) -> None:
        self.succeeded(event)  # type: ignore[arg-type]

    def reset(self) -> None:
        self.commands.clear()
        self.seconds = 0.0


def corpus() -> tuple[list[str], list[str]]:
    data = json.loads(LOCOMO.read_text("utf-8"))
    turns, questions = [], []
    for sample in data:
        conversation = sample["conversation"]
        i = 1
        while f"session_{i}" in conversation:
            turns.extend(t["text"] for t in conversation[f"session_{i}"])
            i += 1
        questions.extend(q["question"] for q in sample["qa"] if q.get("category") in (1, 2, 3, 4))
    return turns, questions


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def round_trips(uri: str, peers: bool) -> tuple[float, Counter[str]]:
    """Round trips for user messages answered with one LLM call each, steady state."""
    monitor = Monitor()
    connection = MongoConnection(uri, f"bench_rt_{uuid.uuid4().hex[:8]}", listeners=[monitor])
    await ensure_indexes(connection)
    clock = SystemClock()
    leases = MongoLeases(connection, clock, ttl=600)
    if peers:
        leases._peers = 1  # another live worker shares the database: order via the inbox
    inbox = MongoInbox(connection, clock)
    harness = Harness(
        ScriptedModel(default=say("ok")),
        agents=MongoAgentStore(connection),
        recall=MongoRecallStore(connection),
        archival=MongoArchivalStore(connection),
    )
    dispatcher = AgentDispatcher(
        harness.runtime.handle, inbox=inbox, leases=leases, poll_interval=3600, idle_seconds=3600
    )
    turns = 20
    for i in range(turns + 3):
        if i == 3:  # the first turns load or create the agent and take its lease
            monitor.reset()
            monitor.counting = True
        event = UserMessageReceived(
            event_id=f"rt:{i}",
            agent_key=AGENT,
            occurred_at=clock.now(),
            text=f"message {i}",
            reply_to=Address(platform="bench", channel_id="1"),
        )
        await dispatcher.submit_and_wait(event)
    monitor.counting = False
    await dispatcher.aclose()
    await connection.client.drop_database(connection.db.name)
    await connection.aclose()
    per_turn = Counter({k: v / turns for k, v in monitor.commands.items()})
    return sum(monitor.commands.values()) / turns, per_turn


async def search_latency(
    uri: str, messages: int, passages: int, queries: int, turns: list[str], questions: list[str]
) -> dict[str, object]:
    monitor = Monitor()
    connection = MongoConnection(uri, f"bench_search_{uuid.uuid4().hex[:8]}", listeners=[monitor])
    await ensure_indexes(connection)
    recall, archival = MongoRecallStore(connection), MongoArchivalStore(connection)
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)

    t0 = time.perf_counter()
    batch = 1000
    for first in range(1, messages + 1, batch):
        await recall.append(
            AGENT,
            [
                Message(
                    seq=seq,
                    role="user",
                    kind="user_message",
                    content=f"{turns[seq % len(turns)]} (#{seq})",
                    created_at=start + timedelta(minutes=seq),
                )
                for seq in range(first, min(first + batch, messages + 1))
            ],
        )
    load_recall = time.perf_counter() - t0
    print(f"  loaded {messages:,} messages in {load_recall:.0f} s", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    for first in range(0, passages, batch):
        await archival.insert(
            AGENT,
            [
                Passage(
                    id=f"p{n}",
                    text=f"{turns[(n * 7) % len(turns)]} {turns[(n * 7 + 1) % len(turns)]}",
                    source="locomo",
                    created_at=start,
                    embedding=tuple(rng.gauss(0, 1) for _ in range(384)),
                )
                for n in range(first, min(first + batch, passages))
            ],
        )
    load_archival = time.perf_counter() - t0
    print(f"  loaded {passages:,} passages in {load_archival:.0f} s", file=sys.stderr, flush=True)

    async def timed(run, n: int) -> tuple[list[float], float]:
        times = []
        monitor.reset()
        monitor.counting = True
        for i in range(n):
            t = time.perf_counter()
            await run(i)
            times.append((time.perf_counter() - t) * 1000)
        monitor.counting = False
        print(f"  {n} searches, p50 {statistics.median(times):.1f} ms", file=sys.stderr, flush=True)
        return times, monitor.seconds * 1000 / n

    picks = [questions[rng.randrange(len(questions))] for _ in range(queries)]
    recall_ms, recall_db = await timed(
        lambda i: recall.search(AGENT, RecallQuery(text=picks[i])), queries
    )
    dated_ms, dated_db = await timed(
        lambda i: recall.search(
            AGENT,
            RecallQuery(
                start=start + timedelta(days=i), end=start + timedelta(days=i + 1), order="oldest"
            ),
        ),
        max(queries // 4, 10),
    )
    lexical_ms, lexical_db = await timed(
        lambda i: archival.search(AGENT, ArchivalQuery(text=picks[i])), queries
    )
    await archival.search(
        AGENT, ArchivalQuery(text="warm", embedding=tuple([1.0] * 384))
    )  # load vectors
    vector = tuple(rng.gauss(0, 1) for _ in range(384))
    hybrid_ms, hybrid_db = await timed(
        lambda i: archival.search(AGENT, ArchivalQuery(text=picks[i], embedding=vector)), queries
    )
    await connection.client.drop_database(connection.db.name)
    await connection.aclose()
    return {
        "load_recall_s": load_recall,
        "load_archival_s": load_archival,
        "recall": (recall_ms, recall_db),
        "recall_by_day": (dated_ms, dated_db),
        "archival_words": (lexical_ms, lexical_db),
        "archival_hybrid": (hybrid_ms, hybrid_db),
    }


def report(
    name: str, rt: tuple[float, Counter[str]], rt_peers: tuple[float, Counter[str]], s: dict
) -> None:
    print(f"## {name}")
    print()
    print("| round trips per user message (one LLM call) | count |")
    print("|---|---|")
    for command, n in sorted(rt[1].items()):
        print(f"| {command} | {n:g} |")
    print(f"| **total, this worker alone** | **{rt[0]:g}** |")
    print(f"| total with other live workers (ordered by the inbox) | {rt_peers[0]:g} |")
    print()
    recall_s, archival_s = s["load_recall_s"], s["load_archival_s"]
    print(f"Loaded in {recall_s:.0f} s (messages) and {archival_s:.0f} s (passages).")
    print()
    print("| search (one agent) | p50 ms | p95 ms | of which database, mean ms |")
    print("|---|---|---|---|")
    for label, key in [
        ("recall, words", "recall"),
        ("recall, one day (conversation_search_date)", "recall_by_day"),
        ("archival, words", "archival_words"),
        ("archival, words + 384-d vectors (hybrid)", "archival_hybrid"),
    ]:
        times, db = s[key]
        print(f"| {label} | {statistics.median(times):.1f} | {pct(times, 95):.1f} | {db:.1f} |")
    print()


async def main(messages: int, passages: int, queries: int) -> None:
    turns, questions = corpus()
    print(
        f"{messages:,} messages and {passages:,} passages in one agent; {queries} LoCoMo questions."
    )
    print()
    results = {}
    with nx_server() as uri:
        results["nx-27017"] = (
            await round_trips(uri, False),
            await round_trips(uri, True),
            await search_latency(uri, messages, passages, queries, turns, questions),
        )
    real = os.environ.get("PAGEMIND_BENCH_MONGODB_URI")
    if real:
        results["MongoDB"] = (
            await round_trips(real, False),
            await round_trips(real, True),
            await search_latency(real, messages, passages, queries, turns, questions),
        )
    for name, (rt, rt_peers, s) in results.items():
        report(name, rt, rt_peers, s)
    rt, _, s = results["nx-27017"]
    print(
        f"roundtrips_per_turn={rt[0]:g} recall_search_ms_p95={pct(s['recall'][0], 95):.1f} "
        f"archival_search_ms_p95={pct(s['archival_hybrid'][0], 95):.1f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="MongoDB store benchmark")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.passages, args.queries))
