"""MongoDB store benchmark: round trips per turn, recall and archival search latency, and
what deleting an uploaded file costs.

    python -m bench.store [--messages 100000] [--passages 100000] [--queries 200]

Runs on nx-27017 (started here, in a temporary directory), on a real MongoDB when
PAGEMIND_BENCH_MONGODB_URI is set, and on the in-memory stores. Searches are made as the
tools make them (top 10; recall up to the last committed message). For each store: p50/p95
latency, the database's share, the worst event-loop stall while searching (how late a 10 ms
timer fired), the cost of the first search (it builds the word index), and whether each
store's top 10 equals the first store's, in order (every store ranks with exact BM25).
Messages and passages are LoCoMo turns (Maharana et al. 2024; ../shared/data/locomo-dev.json,
from the public repository snap-research/LoCoMo), repeated with a counter to reach the
requested size; queries are LoCoMo questions.

Deletion: the last 1,000 passages are one uploaded file (staged and published as uploads
are). After the searches, the file is deleted (``delete_source``) and one passage
(``delete_passage``); timed, with the next search in the same store and the first search
after each in another store over the same database whose index was already held (on
MongoDB: another connection, as another process has; it learns of the deletion from the
deletion log). For comparison, what a full rebuild of the agent's index costs instead: on
MongoDB the first search of a fresh store, in memory re-adding the passages left (what the
in-memory store's abandon did before).

Last line: roundtrips_per_turn=<n> recall_search_ms_p95=<x> archival_search_ms_p95=<y>
delete_source_ms=<d> search_after_delete_ms=<s> (nx-27017 numbers; the last, another
process's first search after the deletion).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from bench.locomo import LOCOMO
from bots.bootstrap import wire
from bots.storage import connect, memory_storage, mongo_storage, prepare
from config.settings import Settings
from core.clock import SystemClock
from core.events import Address, SendReply, UserMessageReceived
from core.messages import Message
from core.ports import ArchivalStore, RecallStore
from core.records import ArchivalQuery, Passage, RecallQuery
from core.turn.settings import AgentSettings
from tests.support.mongo import nx_server
from tests.support.scripted import ScriptedModel, say

AGENT = "bench:user:1"
SOURCE = 1_000  # passages of the uploaded file that is deleted
FILE = "bench-file"


class Discard:
    """Replies go nowhere: the bench counts database commands."""

    async def send(self, reply: SendReply) -> None:
        return None


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
    """Round trips for user messages answered with one LLM call each, steady state, in the
    service as the composition root wires it."""
    monitor = Monitor()
    connection = connect(uri, f"bench_rt_{uuid.uuid4().hex[:8]}", listeners=[monitor])
    clock = SystemClock()
    await prepare(connection, clock)
    storage = mongo_storage(connection, clock, worker_id="bench", lease_ttl=600)
    if peers:
        storage.leases._peers = 1  # type: ignore[attr-defined]  # order via the inbox
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        llm_api_key="bench",
        checkins=False,
        inbox_poll_seconds=3600,
    )
    svc = wire(
        settings, storage=storage, model=ScriptedModel(default=say("ok")), replies=Discard(),
        clock=clock, tuning=AgentSettings(),
    )  # fmt: skip
    dispatcher = svc.dispatcher
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


class LoopWatch:
    """How late a 10 ms timer fires while searches run: how long the event loop was blocked."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.perf_counter() - t - 0.01)

    def __enter__(self) -> LoopWatch:
        self.worst = 0.0
        self._task = asyncio.get_running_loop().create_task(self._watch())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def rss_mib() -> float:
    """This process's resident memory."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def search_latency(
    uri: str | None,
    messages: int,
    passages: int,
    queries: int,
    turns: list[str],
    questions: list[str],
) -> dict[str, object]:
    """Load one agent with ``messages`` and ``passages`` (nx-27017 at ``uri``, or the
    in-memory stores when None), then time searches as the tools make them."""
    monitor = Monitor()
    connection = None
    if uri is None:
        stores = memory_storage()
    else:
        connection = connect(uri, f"bench_search_{uuid.uuid4().hex[:8]}", listeners=[monitor])
        await prepare(connection, SystemClock())
        stores = mongo_storage(connection, SystemClock(), worker_id="bench")
    recall: RecallStore = stores.recall
    archival: ArchivalStore = stores.archival
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

    def made(n: int, document_id: str | None = None) -> Passage:
        return Passage(
            id=f"p{n}",
            text=f"{turns[(n * 7) % len(turns)]} {turns[(n * 7 + 1) % len(turns)]}",
            source="locomo" if document_id is None else "bench.pdf",
            document_id=document_id,
            created_at=start,
            embedding=tuple(rng.gauss(0, 1) for _ in range(384)),
        )

    t0 = time.perf_counter()
    saved = passages - SOURCE if passages >= 2 * SOURCE else passages
    for first in range(0, saved, batch):
        await archival.insert(AGENT, [made(n) for n in range(first, min(first + batch, saved))])
    if saved < passages:  # the last SOURCE passages are one uploaded file
        await archival.begin_document(AGENT, FILE, "bench.pdf", start, 600)
        for first in range(saved, passages, batch):
            chunk = [made(n, FILE) for n in range(first, min(first + batch, passages))]
            await archival.stage(AGENT, FILE, chunk, start)
        await archival.publish_document(AGENT, FILE, start)
    load_archival = time.perf_counter() - t0
    print(f"  loaded {passages:,} passages in {load_archival:.0f} s", file=sys.stderr, flush=True)

    picks = [questions[rng.randrange(len(questions))] for _ in range(queries)]
    vector = tuple(rng.gauss(0, 1) for _ in range(384))

    def said(i: int) -> RecallQuery:  # as conversation_search asks: committed messages only
        return RecallQuery(text=picks[i], limit=10, max_seq=messages)

    def kept(i: int) -> ArchivalQuery:
        return ArchivalQuery(text=picks[i], limit=10)

    def hybrid(i: int) -> ArchivalQuery:
        return ArchivalQuery(text=picks[i], embedding=vector, limit=10)

    gc.collect()  # the loading's garbage is not the searches' to pay for
    # The first search of each kind builds what the store holds for it (its word index and,
    # on MongoDB, the vectors): timed on its own.
    rss = rss_mib()
    first: dict[str, float] = {}
    for label, run in (
        ("recall", lambda: recall.search(AGENT, said(0))),
        ("archival", lambda: archival.search(AGENT, hybrid(0))),
    ):
        t = time.perf_counter()
        with LoopWatch() as watch:
            await asyncio.sleep(0.02)
            t = time.perf_counter()
            await run()
        first[label] = time.perf_counter() - t
        first[f"{label}_stall"] = watch.worst
    first["rss_mib"] = rss_mib() - rss

    async def timed(run, n: int) -> tuple[list[float], float, float, list[tuple[object, ...]]]:
        times, tops = [], []
        monitor.reset()
        monitor.counting = True
        with LoopWatch() as watch:
            for i in range(n):
                await asyncio.sleep(0.02)  # the watch's timer is running when the search starts
                t = time.perf_counter()
                page = await run(i)
                times.append((time.perf_counter() - t) * 1000)
                tops.append(tuple(getattr(x, "seq", getattr(x, "id", None)) for x in page.items))
        monitor.counting = False
        print(f"  {n} searches, p50 {statistics.median(times):.1f} ms", file=sys.stderr, flush=True)
        return times, monitor.seconds * 1000 / n, watch.worst * 1000, tops

    results: dict[str, object] = {
        "load_recall_s": load_recall,
        "load_archival_s": load_archival,
        "first": first,
        "recall": await timed(lambda i: recall.search(AGENT, said(i)), queries),
        "recall_by_day": await timed(
            lambda i: recall.search(
                AGENT,
                RecallQuery(
                    start=start + timedelta(days=i),
                    end=start + timedelta(days=i + 1),
                    order="oldest",
                ),
            ),
            max(queries // 4, 10),
        ),
        "archival_words": await timed(lambda i: archival.search(AGENT, kept(i)), queries),
        "archival_hybrid": await timed(lambda i: archival.search(AGENT, hybrid(i)), queries),
    }
    if passages >= 2 * SOURCE:
        results["deletion"] = await deletion_costs(uri, connection, archival, hybrid(0), monitor)
    if connection is not None:
        await connection.client.drop_database(connection.db.name)
        await connection.aclose()
    return results


async def deletion_costs(
    uri: str | None,
    connection: Any,
    archival: ArchivalStore,
    query: ArchivalQuery,
    monitor: Monitor,
) -> dict[str, float]:
    """Delete the uploaded file, then one passage: what each costs, and the next search
    here and in another store over the same data whose index is held already."""
    other_connection = None
    if uri is not None and connection is not None:
        other_connection = connect(uri, connection.db.name)
        other_stores = mongo_storage(other_connection, SystemClock(), worker_id="bench-other")
        other: ArchivalStore | None = other_stores.archival
    else:
        other = None  # in memory, nothing is shared between two stores
    out: dict[str, float] = {}

    async def clocked(label: str, run) -> object:
        with LoopWatch() as watch:
            await asyncio.sleep(0.02)
            t = time.perf_counter()
            value = await run()
            out[label] = time.perf_counter() - t
        out[f"{label}_stall"] = watch.worst
        return value

    if other is not None:  # the full build: what a rebuild of the held index costs
        await clocked("rebuild", lambda: other.search(AGENT, query))
    monitor.reset()
    monitor.counting = True
    removed = await clocked("delete_source", lambda: archival.delete_source(AGENT, FILE))
    monitor.counting = False
    out["delete_source_commands"] = sum(monitor.commands.values())
    assert removed == SOURCE, removed
    here = await clocked("search_after", lambda: archival.search(AGENT, query))
    if other is not None:
        there = await clocked("other_search_after", lambda: other.search(AGENT, query))
        same = [p.id for p in there.items] == [p.id for p in here.items]  # type: ignore[attr-defined]
        out["same_top"] = float(same)
    gone = [p for p in here.items if p.document_id == FILE]  # type: ignore[attr-defined]
    assert not gone, "a deleted passage was found"
    await clocked("delete_passage", lambda: archival.delete_passage(AGENT, "p5"))
    if other is not None:
        await clocked("other_after_one", lambda: other.search(AGENT, query))
    else:
        await clocked("other_after_one", lambda: archival.search(AGENT, query))
        # the in-memory store's abandon rebuilt the agent's whole index: the cost it replaced
        left = await archival.all(AGENT)
        await clocked("rebuild", lambda: memory_storage().archival.insert(AGENT, left))
    if other_connection is not None:
        await other_connection.aclose()
    return out


SEARCHES = [
    ("recall, words (conversation_search)", "recall"),
    ("recall, one day (conversation_search_date)", "recall_by_day"),
    ("archival, words", "archival_words"),
    ("archival, words + 384-d vectors (hybrid)", "archival_hybrid"),
]


def report_deletions(searches: dict[str, dict]) -> None:
    measured = {name: s["deletion"] for name, s in searches.items() if "deletion" in s}
    if not measured:
        return
    print(f"## Deleting an uploaded file of {SOURCE:,} passages, one agent")
    print()
    names = list(measured)
    print("| | " + " | ".join(names) + " |")
    print("|---" * (1 + len(names)) + "|")

    def row(label: str, cell) -> None:
        print(f"| {label} | " + " | ".join(cell(measured[n]) for n in names) + " |")

    def ms(key: str) -> Callable[[dict[str, float]], str]:
        def cell(d: dict[str, float]) -> str:
            if key not in d:
                return "-"
            return f"{1000 * d[key]:,.1f} (stall {1000 * d[key + '_stall']:.0f})"

        return cell

    row("delete the file (`delete_source`), ms", ms("delete_source"))
    row(
        "database commands it sends",
        lambda d: f"{d['delete_source_commands']:g}" if "same_top" in d else "-",
    )
    row("next search, same store, ms", ms("search_after"))
    row("first search after it, another process (index held), ms", ms("other_search_after"))
    row("same top 10 in both", lambda d: {1.0: "yes", 0.0: "no"}.get(d.get("same_top", -1), "-"))
    row("delete one passage (`delete_passage`), ms", ms("delete_passage"))
    row(
        "first search after that, another process (in memory: same store), ms",
        ms("other_after_one"),
    )
    row(
        "instead: rebuild the agent's index (MongoDB: first search; in memory: re-add), ms",
        ms("rebuild"),
    )
    print()


def report_round_trips(
    name: str, rt: tuple[float, Counter[str]], rt_peers: tuple[float, Counter[str]]
) -> None:
    print(f"## {name}: round trips")
    print()
    print("| round trips per user message (one LLM call) | count |")
    print("|---|---|")
    for command, n in sorted(rt[1].items()):
        print(f"| {command} | {n:g} |")
    print(f"| **total, this worker alone** | **{rt[0]:g}** |")
    print(f"| total with other live workers (ordered by the inbox) | {rt_peers[0]:g} |")
    print()


def report_searches(searches: dict[str, dict]) -> None:
    names = list(searches)
    print("## Search latency, one agent")
    print()
    for name, s in searches.items():
        f = s["first"]
        print(
            f"{name}: loaded in {s['load_recall_s']:.0f} s (messages) and "
            f"{s['load_archival_s']:.0f} s (passages); the first recall search took "
            f"{f['recall']:.1f} s and the first archival search {f['archival']:.1f} s (they "
            f"build the word index and load the vectors; worst event-loop stall "
            f"{1000 * max(f['recall_stall'], f['archival_stall']):.0f} ms; "
            f"+{f['rss_mib']:,.0f} MiB resident)."
        )
    print()
    head = " | ".join(f"{n} p50 / p95 ms | {n} database ms | {n} loop stall ms" for n in names)
    print(f"| search | {head} |")
    print("|---" * (1 + 3 * len(names)) + "|")
    for label, key in SEARCHES:
        cells = []
        for name in names:
            times, db, stall, _ = searches[name][key]
            cells.append(
                f"{statistics.median(times):.1f} / {pct(times, 95):.1f} | "
                + (f"{db:.1f}" if name != "in-memory" else "-")
                + f" | {stall:.0f}"
            )
        print(f"| {label} | {' | '.join(cells)} |")
    print()
    if len(names) > 1:
        base = names[0]
        print(f"| same top 10 as {base}, in order | " + " | ".join(names[1:]) + " |")
        print("|---" * len(names) + "|")
        for label, key in SEARCHES:
            row = []
            for name in names[1:]:
                a, b = searches[base][key][3], searches[name][key][3]
                row.append(f"{sum(x == y for x, y in zip(a, b, strict=True))}/{len(a)}")
            print(f"| {label} | " + " | ".join(row) + " |")
        print()


async def main(messages: int, passages: int, queries: int) -> None:
    turns, questions = corpus()
    print(
        f"{messages:,} messages and {passages:,} passages in one agent; {queries} LoCoMo questions."
    )
    print()
    round_trip_results = {}
    searches: dict[str, dict] = {}
    with nx_server() as uri:
        round_trip_results["nx-27017"] = (
            await round_trips(uri, False),
            await round_trips(uri, True),
        )
        searches["nx-27017"] = await search_latency(
            uri, messages, passages, queries, turns, questions
        )
    real = os.environ.get("PAGEMIND_BENCH_MONGODB_URI")
    if real:
        round_trip_results["MongoDB"] = (
            await round_trips(real, False),
            await round_trips(real, True),
        )
        searches["MongoDB"] = await search_latency(
            real, messages, passages, queries, turns, questions
        )
    searches["in-memory"] = await search_latency(
        None, messages, passages, queries, turns, questions
    )
    for name, (rt, rt_peers) in round_trip_results.items():
        report_round_trips(name, rt, rt_peers)
    report_searches(searches)
    report_deletions(searches)
    rt, _ = round_trip_results["nx-27017"]
    s = searches["nx-27017"]
    deletion = s.get("deletion", {})
    print(
        f"roundtrips_per_turn={rt[0]:g} recall_search_ms_p95={pct(s['recall'][0], 95):.1f} "
        f"archival_search_ms_p95={pct(s['archival_hybrid'][0], 95):.1f} "
        f"delete_source_ms={1000 * deletion.get('delete_source', float('nan')):.1f} "
        f"search_after_delete_ms={1000 * deletion.get('other_search_after', float('nan')):.1f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="MongoDB store benchmark")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.passages, args.queries))
