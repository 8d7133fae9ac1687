"""One ranking on every store: the same data and query give the same results, in the same
order, in memory, on nx-27017 and on a real MongoDB (when ``PAGEMIND_TEST_MONGODB_URI`` is
set); no candidate cap or storage order hides the best match; stored terms are stemmed once."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.inmemory import InMemoryArchivalStore, InMemoryRecallStore
from adapters.mongo.archival import MongoArchivalStore
from adapters.mongo.connection import MongoConnection
from adapters.mongo.recall import MongoRecallStore
from adapters.mongo.schema import ensure_indexes
from core.context.chunking import chunk_text
from core.context.tokens import TokenCounter
from core.messages import Message
from core.records import ArchivalQuery, Passage, RecallQuery
from tests.support.mongo import REAL_MONGODB_ENV

LOCOMO = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "locomo-dev.json"
SERVERS = ["nx-27017"] + (["mongodb"] if os.environ.get(REAL_MONGODB_ENV) else [])
AGENT = "telegram:user:7"
WHEN = datetime(2025, 3, 1, tzinfo=UTC)


@dataclass
class Pair:
    """The in-memory stores beside a database's."""

    server: str
    memory_recall: InMemoryRecallStore
    memory_archival: InMemoryArchivalStore
    recall: MongoRecallStore
    archival: MongoArchivalStore
    connection: MongoConnection


@pytest.fixture(params=SERVERS)
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    uri = (
        request.getfixturevalue("nx_uri")
        if request.param == "nx-27017"
        else os.environ[REAL_MONGODB_ENV]
    )
    connection = MongoConnection(uri, f"contract_{uuid.uuid4().hex[:12]}")
    await ensure_indexes(connection)
    try:
        yield Pair(
            request.param,
            InMemoryRecallStore(),
            InMemoryArchivalStore(),
            MongoRecallStore(connection),
            MongoArchivalStore(connection),
            connection,
        )
    finally:
        await connection.client.drop_database(connection.db.name)
        await connection.aclose()


def _locomo() -> list[dict[str, Any]]:
    if not LOCOMO.is_file():
        pytest.skip(f"LoCoMo dev data not found at {LOCOMO} (shared/data is laid beside the repo)")
    return json.loads(LOCOMO.read_text("utf-8"))


def _sessions(sample: dict[str, Any]) -> list[tuple[str, list[str]]]:
    conversation = sample["conversation"]
    out, n = [], 1
    while f"session_{n}" in conversation:
        lines = [
            f"{t['speaker']}: {' '.join(t['text'].split())}" for t in conversation[f"session_{n}"]
        ]
        out.append((f"session {n}", lines))
        n += 1
    return out


async def test_locomo_questions_get_the_same_top_10_on_every_store(pair: Pair) -> None:
    """Every LoCoMo dev question, as archival_memory_search and conversation_search: the
    database's top 10 is the in-memory store's, in order."""
    counter = TokenCounter()
    questions: list[tuple[str, str]] = []
    for sample in _locomo():
        agent = f"locomo:user:{sample['sample_id']}"
        passages, messages = [], []
        for section, lines in _sessions(sample):
            for i, chunk in enumerate(chunk_text("\n".join(lines), counter, 200, 30)):
                passages.append(
                    Passage(
                        id=f"{section}:{i}",
                        text=chunk,
                        source=f"{sample['sample_id']}.md",
                        section=section,
                        chunk_index=i,
                        document_id=sample["sample_id"],
                        created_at=WHEN,
                    )
                )
            for line in lines:
                seq = len(messages) + 1
                messages.append(
                    Message(
                        seq=seq,
                        role="user",
                        kind="user_message",
                        content=line,
                        created_at=WHEN + timedelta(minutes=seq),
                    )
                )
        for store in (pair.memory_archival, pair.archival):
            await store.insert(agent, passages)
        for store in (pair.memory_recall, pair.recall):
            await store.append(agent, messages)
        questions += [
            (agent, q["question"]) for q in sample["qa"] if q.get("category") in (1, 2, 3, 4)
        ]

    differ: dict[str, list[str]] = {"archival": [], "recall": []}
    for agent, question in questions:
        query = ArchivalQuery(text=question, limit=10)
        expected = await pair.memory_archival.search(agent, query)
        got = await pair.archival.search(agent, query)
        if [p.id for p in got.items] != [p.id for p in expected.items]:
            differ["archival"].append(question)
        said = RecallQuery(text=question, limit=10, max_seq=10_000)  # as the tool asks
        expected_said = await pair.memory_recall.search(agent, said)
        got_said = await pair.recall.search(agent, said)
        if [m.seq for m in got_said.items] != [m.seq for m in expected_said.items]:
            differ["recall"].append(question)
    assert len(questions) > 800
    assert differ == {"archival": [], "recall": []}, (
        f"{pair.server} ranks differently from memory for "
        f"{len(differ['archival'])} archival and {len(differ['recall'])} recall questions "
        f"of {len(questions)}, e.g. {(differ['archival'] + differ['recall'])[:3]}"
    )


FILLER = (
    "Filler note {i}: a long story about the united states and the wider world, with a war "
    "film we entered into a contest, then a trip to the museum, the garden, the library, a "
    "market, the harbour, the old station, two bakeries, a bookshop and a quiet park bench."
)
WW1 = "The United States entered World War I in April 1917."


async def test_the_best_passage_is_found_behind_1550_fillers_on_every_store(pair: Pair) -> None:
    """Every query term matches all 1,551 passages; the full BM25 ranking puts the short
    World War I passage first, wherever it is stored."""
    fillers = [
        Passage(id=f"f{i}", text=FILLER.format(i=i), source="notes", created_at=WHEN)
        for i in range(1550)
    ]
    target = Passage(id="ww1", text=WW1, source="history", created_at=WHEN)
    query = ArchivalQuery(text="when did the united states enter world war", limit=10)
    for store in (pair.memory_archival, pair.archival):
        for first in range(0, len(fillers), 500):
            await store.insert(AGENT, fillers[first : first + 500])
        await store.insert(AGENT, [target])
        page = await store.search(AGENT, query)
        assert [p.id for p in page.items][:1] == ["ww1"], type(store).__name__
        assert page.total == 1551 and page.exact_total


async def test_recall_finds_the_best_message_behind_many_matches_on_every_store(
    pair: Pair,
) -> None:
    messages = [
        Message(
            seq=i + 1,
            role="user",
            kind="user_message",
            content=FILLER.format(i=i) if i < 1550 else WW1,
            created_at=WHEN + timedelta(minutes=i),
        )
        for i in range(1551)
    ]
    query = RecallQuery(text="when did the united states enter world war", limit=10, max_seq=1551)
    for store in (pair.memory_recall, pair.recall):
        await store.append(AGENT, messages)
        page = await store.search(AGENT, query)
        assert [m.seq for m in page.items][:1] == [1551], type(store).__name__
        assert page.total == 1551


async def _second(pair: Pair) -> tuple[MongoConnection, MongoRecallStore, MongoArchivalStore]:
    """The same database as another process sees it: its own connection and stores."""
    other = MongoConnection(pair.connection.uri, pair.connection.db.name)
    return other, MongoRecallStore(other), MongoArchivalStore(other)


async def test_passages_stored_or_erased_by_another_process_are_seen(pair: Pair) -> None:
    other, _, archival = await _second(pair)
    try:
        await pair.archival.insert(
            AGENT, [Passage(id="a", text="red kayak", source="s", created_at=WHEN)]
        )
        assert [
            p.id for p in (await pair.archival.search(AGENT, ArchivalQuery(text="kayak"))).items
        ] == ["a"]
        await archival.insert(
            AGENT, [Passage(id="b", text="blue kayak", source="s", created_at=WHEN)]
        )
        page = await pair.archival.search(AGENT, ArchivalQuery(text="kayak"))
        assert [p.id for p in page.items] == ["b", "a"]
        await archival.erase(AGENT)
        await archival.insert(
            AGENT, [Passage(id="c", text="green kayak", source="s", created_at=WHEN)]
        )
        page = await pair.archival.search(AGENT, ArchivalQuery(text="kayak"))
        assert [p.id for p in page.items] == ["c"] and page.total == 1
    finally:
        await other.aclose()


async def test_messages_rewritten_by_another_process_are_searched_as_they_are_now(
    pair: Pair,
) -> None:
    """A step that was never committed (seq 3) is discarded and written again elsewhere."""

    def said(seq: int, text: str) -> Message:
        return Message(seq=seq, role="user", kind="user_message", content=text, created_at=WHEN)

    other, recall, _ = await _second(pair)
    try:
        await pair.recall.append(
            AGENT, [said(1, "hello"), said(2, "ferry times"), said(3, "Lisbon trip")]
        )
        assert [
            m.seq for m in (await pair.recall.search(AGENT, RecallQuery(text="Lisbon"))).items
        ] == [3]
        assert await recall.discard_after(AGENT, 2) == 1
        await recall.append(AGENT, [said(3, "Porto trip")])
        assert (await pair.recall.search(AGENT, RecallQuery(text="Lisbon"))).total == 0
        porto = await pair.recall.search(AGENT, RecallQuery(text="Porto trip"))
        assert [m.seq for m in porto.items] == [3] and porto.total == 1
        committed = await pair.recall.search(AGENT, RecallQuery(text="trip ferry", max_seq=2))
        assert [m.seq for m in committed.items] == [2]
    finally:
        await other.aclose()


async def test_stored_terms_are_stemmed_again_by_the_schema_2_migration(pair: Pair) -> None:
    """Data written by schema 1 (the hand-written stemmer: "paintings" stored as "painting")
    is found by every form of the word once migrated."""
    from adapters.mongo.schema import migrate
    from tests.support.agents import ManualClock

    db = pair.connection.db
    await db["agents"].insert_one({"_id": AGENT, "v": 1, "version": 1, "state": {}})
    await db["meta"].insert_one({"_id": "schema", "version": 1})
    await pair.archival.insert(
        AGENT, [Passage(id="art", text="her paintings", source="s", created_at=WHEN)]
    )
    await pair.recall.append(
        AGENT,
        [Message(seq=1, role="user", kind="user_message", content="my paintings", created_at=WHEN)],
    )
    for name in ("passages", "messages"):  # as schema 1 stored them
        await db[name].update_many({}, {"$set": {"v": 1, "terms": "painting"}})
    assert await migrate(pair.connection, ManualClock()) == [2]
    archival, recall = MongoArchivalStore(pair.connection), MongoRecallStore(pair.connection)
    for words in ("paintings", "painting", "paint"):
        assert [p.id for p in (await archival.search(AGENT, ArchivalQuery(text=words))).items] == [
            "art"
        ]
        assert [m.seq for m in (await recall.search(AGENT, RecallQuery(text=words))).items] == [1]
    assert await db["passages"].find_one({"v": 1}) is None
    assert await migrate(pair.connection, ManualClock()) == [], "applied once"


async def test_an_index_rebuilt_aside_serves_the_same_results(pair: Pair) -> None:
    """Held indexes are rebuilt now and then while searches go on; nothing is lost."""
    pair.archival.held.rebuild_seconds = pair.recall.held.rebuild_seconds = 0.0

    def said(seq: int, text: str) -> Message:
        return Message(seq=seq, role="user", kind="user_message", content=text, created_at=WHEN)

    await pair.archival.insert(
        AGENT, [Passage(id="a", text="red kayak", source="s", created_at=WHEN)]
    )
    await pair.recall.append(AGENT, [said(1, "red kayak"), said(2, "blue kayak")])
    for _ in range(2):
        await pair.archival.search(AGENT, ArchivalQuery(text="kayak"))
        await pair.recall.search(AGENT, RecallQuery(text="kayak", max_seq=2))
        await pair.archival.held.rebuilt()
        await pair.recall.held.rebuilt()
        await pair.archival.insert(
            AGENT, [Passage(id="b", text="blue kayak", source="s", created_at=WHEN)]
        )
    assert [
        p.id for p in (await pair.archival.search(AGENT, ArchivalQuery(text="kayak"))).items
    ] == ["b", "a"]
    said_page = await pair.recall.search(AGENT, RecallQuery(text="kayak", max_seq=2))
    assert [m.seq for m in said_page.items] == [2, 1]
