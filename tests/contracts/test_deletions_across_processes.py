"""A deletion made by one process is seen by every other process's held search index before
that process's next search returns: two MongoDB archival stores on two connections to one
database (as two replicas have), and once with a real second process; likewise a person's
messages forgotten in recall (a real second process). nx-27017 always, and
a real MongoDB when ``PAGEMIND_TEST_MONGODB_URI`` is set."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pymongo.uri_parser import parse_uri

from adapters.mongo.archival import MongoArchivalStore
from adapters.mongo.connection import MongoConnection
from adapters.mongo.recall import MongoRecallStore
from adapters.mongo.schema import ensure_indexes
from core.errors import StorageError
from core.messages import Message
from core.records import ArchivalQuery, Passage, RecallQuery
from tests.support.mongo import REAL_MONGODB_ENV, die_with_parent
from tests.support.mongo_proxy import StallingProxy

SERVERS = ["nx-27017"] + (["mongodb"] if os.environ.get(REAL_MONGODB_ENV) else [])
AGENT = "slack:user:T1:U9"
WHEN = datetime(2026, 5, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Replicas:
    """Two processes' archival stores: ``one`` and ``two`` share a database, not a client."""

    uri: str
    database: str
    one: MongoArchivalStore
    two: MongoArchivalStore


@pytest.fixture(params=SERVERS)
async def replicas(request: pytest.FixtureRequest) -> AsyncIterator[Replicas]:
    uri = (
        request.getfixturevalue("nx_uri")
        if request.param == "nx-27017"
        else os.environ[REAL_MONGODB_ENV]
    )
    database = f"contract_{uuid.uuid4().hex[:12]}"
    first, second = MongoConnection(uri, database), MongoConnection(uri, database)
    await ensure_indexes(first)
    try:
        yield Replicas(uri, database, MongoArchivalStore(first), MongoArchivalStore(second))
    finally:
        await first.client.drop_database(database)
        await first.aclose()
        await second.aclose()


def passage(pid: str, text: str, document_id: str | None = None, embedding=None) -> Passage:
    return Passage(
        id=pid,
        text=text,
        source=f"{document_id}.pdf" if document_id else "saved by you",
        document_id=document_id,
        created_at=WHEN,
        embedding=embedding,
    )


async def upload(store: MongoArchivalStore, document_id: str, texts: list[str]) -> None:
    await store.begin_document(AGENT, document_id, f"{document_id}.pdf", WHEN, 60)
    await store.stage(
        AGENT,
        document_id,
        [
            passage(f"{document_id}:{i}", t, document_id, (1.0, float(i), 0.5))
            for i, t in enumerate(texts)
        ],
        WHEN,
    )
    await store.publish_document(AGENT, document_id, WHEN)


async def found(store: MongoArchivalStore, text: str, embedding=None) -> list[str]:
    """The ids found, having checked that the count the tool shows agrees with them."""
    page = await store.search(AGENT, ArchivalQuery(text=text, embedding=embedding, limit=20))
    assert page.total == len(page.items) or page.total > 20, "a deleted passage still counts"
    return sorted(p.id for p in page.items)


async def test_every_kind_of_deletion_reaches_the_other_process_at_its_next_search(
    replicas: Replicas,
) -> None:
    one, two = replicas.one, replicas.two
    await upload(one, "doc1", ["lighthouse keeper", "lighthouse lamp", "lighthouse stairs"])
    await upload(one, "doc2", ["harbour wall", "harbour lighthouse"])
    await one.insert(
        AGENT,
        [
            passage(f"n{i}", f"note about the lighthouse {i}", embedding=(0.0, 1.0, i))
            for i in range(3)
        ],
    )
    everything = await found(two, "lighthouse")  # ``two`` holds every passage by now
    assert len(everything) == 7
    assert len(await found(two, "", (1.0, 1.0, 0.5))) == 8

    assert await one.delete_source(AGENT, "doc1") == 3
    assert await found(two, "lighthouse") == ["doc2:1", "n0", "n1", "n2"]
    assert await found(two, "keeper") == []
    assert not any(p.startswith("doc1") for p in await found(two, "", (1.0, 1.0, 0.5)))

    assert await one.delete_passage(AGENT, "n1") == 1
    assert await found(two, "lighthouse") == ["doc2:1", "n0", "n2"]
    assert "n1" not in await found(two, "", (0.0, 1.0, 1.0))

    assert await one.delete_source(AGENT, None) == 2
    assert await found(two, "lighthouse") == ["doc2:1"]

    await one.abandon_document(AGENT, "doc2")  # a publication that timed out, undone
    assert await found(two, "harbour") == []

    await upload(one, "doc3", ["tide table"])
    assert await found(two, "tide") == ["doc3:0"]
    await one.erase(AGENT)
    await one.insert(AGENT, [passage("fresh", "tide clock")])
    assert await found(two, "tide") == ["fresh"]

    # and the other way round
    assert await found(one, "tide") == ["fresh"]
    assert await two.delete_passage(AGENT, "fresh") == 1
    assert await found(one, "tide") == []


async def test_an_agent_erased_and_filled_again_past_what_was_held_is_searched_anew(
    replicas: Replicas,
) -> None:
    """The new passages take the old ones' numbers: the other process must not keep what it
    held under them (the counter document, and with it the epoch, is new)."""
    one, two = replicas.one, replicas.two
    await one.insert(AGENT, [passage(f"old{i}", f"red kayak {i}") for i in range(3)])
    assert len(await found(two, "kayak")) == 3
    await one.erase(AGENT)
    await one.insert(AGENT, [passage(f"new{i}", f"blue canoe {i}") for i in range(5)])
    assert await found(two, "kayak") == []
    assert await found(two, "canoe") == [f"new{i}" for i in range(5)]


async def test_a_file_sent_again_after_its_deletion_is_found_once(replicas: Replicas) -> None:
    """The new copy has the old copy's passage ids: only the old numbers are deleted."""
    one, two = replicas.one, replicas.two
    await upload(one, "doc1", ["tide table one", "tide table two"])
    assert len(await found(two, "tide")) == 2
    await one.delete_source(AGENT, "doc1")
    await upload(one, "doc1", ["tide table one", "tide table two"])
    page = await two.search(AGENT, ArchivalQuery(text="tide", limit=10))
    assert sorted(p.id for p in page.items) == ["doc1:0", "doc1:1"] and page.total == 2


async def test_a_process_further_behind_than_the_log_starts_afresh(replicas: Replicas) -> None:
    one, two = replicas.one, replicas.two
    one.deletion_log = 5  # the log keeps the last 5 deletions (1,000 by default)
    await one.insert(AGENT, [passage(f"p{i}", f"kayak number {i}") for i in range(10)])
    assert len(await found(two, "kayak")) == 10
    for i in range(7):  # more deletions than the log keeps
        assert await one.delete_passage(AGENT, f"p{i}") == 1
    assert await found(two, "kayak") == ["p7", "p8", "p9"]
    assert await one.delete_passage(AGENT, "p7") == 1
    assert await found(two, "kayak") == ["p8", "p9"], "and follows the log again"


async def test_a_deletion_cut_short_is_never_searched_and_finishes_when_run_again(
    replicas: Replicas,
) -> None:
    """The database logs the deletion but its answer never comes (the deleting process gives
    up before deleting): no process searches those passages, not even one that starts
    after, and running the deletion again deletes them."""
    parsed = parse_uri(replicas.uri)
    (host, port), *others = parsed["nodelist"]
    if others or parsed["username"] or host not in ("127.0.0.1", "localhost"):
        pytest.skip("the stalling proxy fronts one local server without credentials")
    await upload(replicas.one, "doc1", ["ferry to the island", "ferry timetable"])
    await replicas.one.insert(AGENT, [passage("n", "ferry tickets")])
    assert len(await found(replicas.two, "ferry")) == 3
    async with StallingProxy(port) as proxy:
        cut_short = MongoConnection(
            proxy.uri(socketTimeoutMS=1500, directConnection="true", retryWrites="false"),
            replicas.database,
        )
        try:
            proxy.stall_once(lambda command: command.get("update") == "archival_counters")
            with pytest.raises(StorageError):
                await MongoArchivalStore(cut_short).delete_source(AGENT, "doc1")
            assert proxy.stalled.is_set(), "the deletion was logged on the server"
        finally:
            await cut_short.aclose()
    assert await replicas.one.count(AGENT) == 3, "nothing was deleted"
    assert await found(replicas.two, "ferry") == ["n"]
    late = MongoConnection(replicas.uri, replicas.database)
    try:
        assert await found(MongoArchivalStore(late), "ferry") == ["n"], "nor by a new process"
    finally:
        await late.aclose()
    assert await replicas.one.delete_source(AGENT, "doc1") == 2
    assert await replicas.one.count(AGENT) == 1
    assert await found(replicas.two, "ferry") == ["n"]


async def test_a_deletion_reaches_a_search_in_another_real_process(replicas: Replicas) -> None:
    await upload(replicas.one, "doc1", ["lighthouse keeper", "lighthouse lamp"])
    await replicas.one.insert(AGENT, [passage("n", "lighthouse postcard")])
    reader = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.search_reader", "archival",
        replicas.uri, replicas.database, AGENT,
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        preexec_fn=die_with_parent,
    )  # fmt: skip
    assert reader.stdin is not None and reader.stdout is not None

    async def search(text: str) -> list[str]:
        assert reader.stdin is not None and reader.stdout is not None
        reader.stdin.write(json.dumps({"text": text}).encode() + b"\n")
        await reader.stdin.drain()
        line = await asyncio.wait_for(reader.stdout.readline(), 60)
        assert line, "the reader process ended"
        answer = json.loads(line)
        assert answer["total"] == len(answer["ids"]), "a deleted passage still counts"
        return sorted(answer["ids"])

    try:
        assert await search("lighthouse") == ["doc1:0", "doc1:1", "n"]
        assert await replicas.one.delete_source(AGENT, "doc1") == 2
        assert await search("lighthouse") == ["n"]
        assert await replicas.one.delete_passage(AGENT, "n") == 1
        assert await search("lighthouse") == []
    finally:
        reader.stdin.close()
        await asyncio.wait_for(reader.wait(), 30)


async def test_an_authors_messages_forgotten_by_one_replica_leave_the_others_index(
    replicas: Replicas,
) -> None:
    """A person erased from a group agent by one process: another real process's held word
    index (built by a search that saw their messages) ranks and counts none of them on its
    next search, and neither does the erasing process's."""
    group = "slack:channel:T1:C1"
    connection = MongoConnection(replicas.uri, replicas.database)
    one = MongoRecallStore(connection)
    reader = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.search_reader", "recall",
        replicas.uri, replicas.database, group,
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        preexec_fn=die_with_parent,
    )  # fmt: skip
    assert reader.stdin is not None and reader.stdout is not None

    async def search(text: str, max_seq: int | None) -> tuple[list[int], int]:
        assert reader.stdin is not None and reader.stdout is not None
        reader.stdin.write(json.dumps({"text": text, "max_seq": max_seq}).encode() + b"\n")
        await reader.stdin.drain()
        line = await asyncio.wait_for(reader.stdout.readline(), 60)
        assert line, "the reader process ended"
        answer = json.loads(line)
        return sorted(answer["seqs"]), answer["total"]

    try:
        await connection.db["agents"].insert_one({"_id": group, "state": {"last_seq": 4}})
        said = [("tomatoes in the garden", "ana"), ("garden gloves", "ben"),
                ("the garden gate", "ana"), ("weeding", "ben")]  # fmt: skip
        await one.append(group, [
            Message(seq=i, role="user", kind="user_message", content=text, created_at=WHEN,
                    author_id=author)
            for i, (text, author) in enumerate(said, start=1)
        ])  # fmt: skip
        held = RecallQuery(text="garden", max_seq=4)  # both processes hold the index now
        assert (await one.search(group, held)).total == 3
        assert await search("garden", 4) == ([1, 2, 3], 3)
        assert await one.forget_author(group, "ana") == 2
        for max_seq in (4, None):
            assert await search("garden", max_seq) == ([2], 1), max_seq
            page = await one.search(group, RecallQuery(text="garden", max_seq=max_seq))
            assert [m.seq for m in page.items] == [2] and page.total == 1, max_seq
    finally:
        reader.stdin.close()
        await asyncio.wait_for(reader.wait(), 30)
        await connection.aclose()
