"""Staged documents: a file becomes searchable all at once, once, and survives crashes."""

from __future__ import annotations

from datetime import timedelta

from core.records import ArchivalQuery, Passage
from tests.contracts.conftest import Stores

AGENT = "telegram:user:5"


def chunk(i: int, clock, embedding=None) -> Passage:
    return Passage(
        id=f"doc1:{i}",
        text=f"lighthouse logbook entry {i}",
        source="logbook.pdf",
        section=f"page {i + 1}",
        chunk_index=i,
        document_id="doc1",
        created_at=clock.now(),
        embedding=embedding,
    )


async def test_staged_passages_are_invisible_until_published(stores: Stores) -> None:
    now = stores.clock.now()
    assert await stores.archival.begin_document(AGENT, "doc1", "logbook.pdf", now, 60) == "new"
    await stores.archival.stage(
        AGENT, "doc1", [chunk(i, stores.clock, (1.0, float(i))) for i in range(3)], now
    )
    hidden = await stores.archival.search(
        AGENT, ArchivalQuery(text="lighthouse", embedding=(1.0, 1.0))
    )
    assert hidden.total == 0 and await stores.archival.count(AGENT) == 0
    assert await stores.archival.all(AGENT) == []
    await stores.archival.stage(
        AGENT, "doc1", [chunk(i, stores.clock, (1.0, float(i))) for i in range(3, 5)], now
    )
    assert await stores.archival.publish_document(AGENT, "doc1", now) == 5
    shown = await stores.archival.search(
        AGENT, ArchivalQuery(text="lighthouse", embedding=(1.0, 1.0), limit=10)
    )
    assert sorted(p.id for p in shown.items) == [f"doc1:{i}" for i in range(5)]
    semantic_only = await stores.archival.search(
        AGENT, ArchivalQuery(text="", embedding=(1.0, 4.0))
    )
    assert semantic_only.items[0].id == "doc1:4", "published vectors are searchable too"
    assert await stores.archival.count(AGENT) == 5


async def test_the_same_document_is_stored_once(stores: Stores) -> None:
    now = stores.clock.now()
    await stores.archival.begin_document(AGENT, "doc1", "logbook.pdf", now, 60)
    await stores.archival.stage(AGENT, "doc1", [chunk(0, stores.clock)], now)
    assert await stores.archival.begin_document(AGENT, "doc1", "copy.pdf", now, 60) == "busy"
    await stores.archival.publish_document(AGENT, "doc1", now)
    assert await stores.archival.begin_document(AGENT, "doc1", "copy.pdf", now, 60) == "stored"
    assert (
        await stores.archival.begin_document("telegram:user:6", "doc1", "x.pdf", now, 60) == "new"
    )


async def test_a_stalled_load_is_rolled_back_and_can_be_redone(stores: Stores) -> None:
    start = stores.clock.now()
    await stores.archival.begin_document(AGENT, "doc1", "logbook.pdf", start, 60)
    await stores.archival.stage(AGENT, "doc1", [chunk(i, stores.clock) for i in range(4)], start)
    # the loading process died; much later, recovery runs
    later = start + timedelta(minutes=10)
    assert await stores.archival.recover_documents(later - timedelta(minutes=5)) == 1
    assert await stores.archival.count(AGENT) == 0
    assert await stores.archival.begin_document(AGENT, "doc1", "logbook.pdf", later, 60) == "new"
    await stores.archival.stage(AGENT, "doc1", [chunk(i, stores.clock) for i in range(4)], later)
    assert await stores.archival.publish_document(AGENT, "doc1", later) == 4
    assert (
        len((await stores.archival.search(AGENT, ArchivalQuery(text="logbook", limit=10))).items)
        == 4
    )


async def test_a_stalled_load_is_taken_over_by_a_new_upload(stores: Stores) -> None:
    start = stores.clock.now()
    await stores.archival.begin_document(AGENT, "doc1", "logbook.pdf", start, 60)
    await stores.archival.stage(AGENT, "doc1", [chunk(i, stores.clock) for i in range(4)], start)
    later = start + timedelta(minutes=2)
    assert await stores.archival.begin_document(AGENT, "doc1", "logbook.pdf", later, 60) == "new"
    await stores.archival.stage(AGENT, "doc1", [chunk(0, stores.clock)], later)
    assert await stores.archival.publish_document(AGENT, "doc1", later) == 1
    assert await stores.archival.count(AGENT) == 1


async def test_abandoning_leaves_nothing(stores: Stores) -> None:
    now = stores.clock.now()
    await stores.archival.begin_document(AGENT, "doc1", "logbook.pdf", now, 60)
    await stores.archival.stage(AGENT, "doc1", [chunk(0, stores.clock)], now)
    await stores.archival.abandon_document(AGENT, "doc1")
    assert await stores.archival.begin_document(AGENT, "doc1", "logbook.pdf", now, 60) == "new"
    assert await stores.archival.count(AGENT) == 0


async def test_abandoning_a_published_document_removes_it_and_it_is_stored_once_again(
    stores: Stores,
) -> None:
    """A publication whose answer timed out may have run: abandoning it must still leave
    nothing searchable, and sending the file again stores it once."""
    now = stores.clock.now()
    await stores.archival.begin_document(AGENT, "doc1", "logbook.pdf", now, 60)
    await stores.archival.stage(AGENT, "doc1", [chunk(i, stores.clock) for i in range(3)], now)
    await stores.archival.publish_document(AGENT, "doc1", now)
    await stores.archival.abandon_document(AGENT, "doc1")
    assert await stores.archival.count(AGENT) == 0
    assert (await stores.archival.search(AGENT, ArchivalQuery(text="lighthouse"))).total == 0
    assert await stores.archival.begin_document(AGENT, "doc1", "logbook.pdf", now, 60) == "new"
    await stores.archival.stage(AGENT, "doc1", [chunk(i, stores.clock) for i in range(3)], now)
    assert await stores.archival.publish_document(AGENT, "doc1", now) == 3
    assert await stores.archival.count(AGENT) == 3
