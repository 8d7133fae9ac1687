"""Deleting archival passages: one passage, a whole uploaded file, or every passage the agent
saved itself; and the list of an agent's sources. On every store, a deletion is gone from
word, semantic and hybrid search at once, and what is left ranks as if it had never been
stored."""

from __future__ import annotations

from datetime import timedelta

from core.records import ArchivalQuery, Passage
from tests.contracts.conftest import Stores

AGENT = "telegram:user:21"
OTHER = "telegram:user:22"


def chunk(document_id: str, i: int, text: str, stores: Stores, embedding=None) -> Passage:
    return Passage(
        id=f"{document_id}:{i}",
        text=text,
        source=f"{document_id}.pdf",
        section=f"page {i + 1}",
        chunk_index=i,
        document_id=document_id,
        created_at=stores.clock.now(),
        embedding=embedding,
    )


def saved(pid: str, text: str, stores: Stores, embedding=None) -> Passage:
    return Passage(
        id=pid, text=text, source="saved by you", created_at=stores.clock.now(), embedding=embedding
    )


async def upload(stores: Stores, agent: str, document_id: str, passages: list[Passage]) -> int:
    now = stores.clock.now()
    assert (
        await stores.archival.begin_document(agent, document_id, f"{document_id}.pdf", now, 60)
        == "new"
    )
    await stores.archival.stage(agent, document_id, passages, now)
    return await stores.archival.publish_document(agent, document_id, now)


async def ids(stores: Stores, query: ArchivalQuery, agent: str = AGENT) -> list[str]:
    return [p.id for p in (await stores.archival.search(agent, query)).items]


async def test_a_deleted_passage_is_found_by_no_search(stores: Stores) -> None:
    await stores.archival.insert(
        AGENT,
        [
            saved("kayak", "the red kayak is in the shed", stores, (1.0, 0.0, 0.0)),
            saved("canoe", "the green canoe is in the shed", stores, (0.9, 0.1, 0.0)),
            saved("bike", "the bike is at the station", stores, (0.0, 1.0, 0.0)),
        ],
    )
    await stores.archival.insert(OTHER, [saved("kayak", "my kayak", stores, (1.0, 0.0, 0.0))])
    words = ArchivalQuery(text="shed kayak", limit=10)
    semantic = ArchivalQuery(text="", embedding=(1.0, 0.0, 0.0), limit=10)
    hybrid = ArchivalQuery(text="kayak", embedding=(1.0, 0.0, 0.0), limit=10)
    assert await ids(stores, words) == ["kayak", "canoe"]  # the search index is built
    assert await ids(stores, semantic) == ["kayak", "canoe"]

    assert await stores.archival.delete_passage(AGENT, "kayak") == 1
    assert await ids(stores, words) == ["canoe"]
    assert (await stores.archival.search(AGENT, ArchivalQuery(text="kayak"))).total == 0
    assert await ids(stores, semantic) == ["canoe"]
    assert await ids(stores, hybrid) == ["canoe"]
    assert await stores.archival.count(AGENT) == 2
    assert sorted(p.id for p in await stores.archival.all(AGENT)) == ["bike", "canoe"]
    assert await ids(stores, words, OTHER) == ["kayak"], "another agent's passage stays"

    assert await stores.archival.delete_passage(AGENT, "kayak") == 0, "deleted once"
    assert await stores.archival.delete_passage(AGENT, "nothing") == 0
    await stores.archival.insert(AGENT, [saved("kayak", "the red kayak is back", stores)])
    assert await ids(stores, ArchivalQuery(text="kayak")) == ["kayak"], "stored again: found"


async def test_deleting_an_uploaded_file_removes_all_of_it_and_it_can_be_sent_again(
    stores: Stores,
) -> None:
    lighthouse = [
        chunk("doc1", i, f"lighthouse logbook entry {i}", stores, (1.0, float(i), 0.0))
        for i in range(4)
    ]
    harbour = [chunk("doc2", i, f"harbour logbook entry {i}", stores) for i in range(2)]
    assert await upload(stores, AGENT, "doc1", lighthouse) == 4
    assert await upload(stores, AGENT, "doc2", harbour) == 2
    await stores.archival.insert(AGENT, [saved("note", "logbook kept in the drawer", stores)])
    everything = ArchivalQuery(text="logbook", limit=10)
    assert len(await ids(stores, everything)) == 7

    assert await stores.archival.delete_source(AGENT, "doc1") == 4
    assert sorted(await ids(stores, everything)) == ["doc2:0", "doc2:1", "note"]
    assert (await stores.archival.search(AGENT, ArchivalQuery(text="lighthouse"))).total == 0
    semantic = ArchivalQuery(text="", embedding=(1.0, 2.0, 0.0))
    assert await ids(stores, semantic) == [], "its vectors are gone too"
    assert [s.document_id for s in await stores.archival.sources(AGENT)] == ["doc2", None]
    assert await stores.archival.delete_source(AGENT, "doc1") == 0, "deleted once"

    assert await upload(stores, AGENT, "doc1", lighthouse) == 4, "the file can be sent again"
    assert (await stores.archival.search(AGENT, ArchivalQuery(text="lighthouse"))).total == 4
    assert len(await ids(stores, semantic)) == 4


async def test_deleting_what_the_agent_saved_leaves_the_files(stores: Stores) -> None:
    await upload(stores, AGENT, "doc1", [chunk("doc1", 0, "ferry timetable", stores)])
    await stores.archival.insert(
        AGENT, [saved(f"n{i}", f"ferry note {i}", stores) for i in range(3)]
    )
    assert (await stores.archival.search(AGENT, ArchivalQuery(text="ferry"))).total == 4
    assert await stores.archival.delete_source(AGENT, None) == 3
    assert await ids(stores, ArchivalQuery(text="ferry")) == ["doc1:0"]
    assert [s.document_id for s in await stores.archival.sources(AGENT)] == ["doc1"]
    assert await stores.archival.delete_source(AGENT, None) == 0


async def test_a_file_still_loading_is_not_a_source_yet(stores: Stores) -> None:
    now = stores.clock.now()
    await stores.archival.begin_document(AGENT, "doc1", "doc1.pdf", now, 60)
    await stores.archival.stage(
        AGENT, "doc1", [chunk("doc1", i, "tide table", stores) for i in range(2)], now
    )
    assert await stores.archival.delete_source(AGENT, "doc1") == 0
    assert await stores.archival.delete_passage(AGENT, "doc1:0") == 0, "not searchable yet"
    assert await stores.archival.sources(AGENT) == []
    assert await stores.archival.publish_document(AGENT, "doc1", now) == 2, "it goes on loading"
    assert (await stores.archival.search(AGENT, ArchivalQuery(text="tide"))).total == 2


async def test_sources_list_files_with_their_passages_then_what_the_agent_saved(
    stores: Stores,
) -> None:
    assert await stores.archival.sources(AGENT) == []
    first = stores.clock.now()
    await upload(stores, AGENT, "doc1", [chunk("doc1", i, "one", stores) for i in range(3)])
    stores.clock.advance(minutes=5)
    await upload(stores, AGENT, "doc2", [chunk("doc2", 0, "two", stores)])
    stores.clock.advance(minutes=5)
    await stores.archival.insert(AGENT, [saved("a", "saved first", stores)])
    stores.clock.advance(minutes=5)
    await stores.archival.insert(AGENT, [saved("b", "saved later", stores)])
    await upload(stores, OTHER, "doc3", [chunk("doc3", 0, "elsewhere", stores)])

    listed = await stores.archival.sources(AGENT)
    assert [(s.document_id, s.filename, s.passages) for s in listed] == [
        ("doc1", "doc1.pdf", 3),
        ("doc2", "doc2.pdf", 1),
        (None, None, 2),
    ]
    assert [s.stored_at for s in listed] == [
        first,
        first + timedelta(minutes=5),
        first + timedelta(minutes=15),
    ]
    # deleting a passage of a file counts it out; the last one takes the file off the list
    assert await stores.archival.delete_passage(AGENT, "doc1:0") == 1
    assert await stores.archival.delete_passage(AGENT, "doc2:0") == 1
    assert [(s.document_id, s.passages) for s in await stores.archival.sources(AGENT)] == [
        ("doc1", 2),
        (None, 2),
    ]
    assert await upload(stores, AGENT, "doc2", [chunk("doc2", 0, "two", stores)]) == 1


async def test_what_is_left_ranks_as_if_the_deleted_were_never_stored(stores: Stores) -> None:
    """The same searches against an agent whose passages were deleted and against one that
    only ever had the passages left: the same results in the same order (ties included)."""
    words = "ferry harbour lisbon porto tide kayak lighthouse noon evening rain".split()

    def text(i: int) -> str:
        return " ".join(words[(i * k) % len(words)] for k in (1, 3, 7)[: 1 + i % 3])

    kept = "telegram:user:23"
    await upload(stores, AGENT, "doc1", [chunk("doc1", i, text(i), stores) for i in range(12)])
    await stores.archival.insert(AGENT, [saved(f"n{i}", text(i + 40), stores) for i in range(30)])
    await upload(stores, AGENT, "doc2", [chunk("doc2", i, text(i + 80), stores) for i in range(9)])
    queries = [ArchivalQuery(text=w, limit=50) for w in ("ferry", "lisbon tide", "rain kayak noon")]
    for query in queries:
        await stores.archival.search(AGENT, query)  # held indexes are built

    assert await stores.archival.delete_source(AGENT, "doc1") == 12
    for i in range(0, 30, 4):
        assert await stores.archival.delete_passage(AGENT, f"n{i}") == 1
    assert await stores.archival.delete_passage(AGENT, "doc2:3") == 1

    await stores.archival.insert(
        kept, [saved(f"n{i}", text(i + 40), stores) for i in range(30) if i % 4]
    )
    await upload(
        stores, kept, "doc2", [chunk("doc2", i, text(i + 80), stores) for i in range(9) if i != 3]
    )
    for query in queries:
        got = await stores.archival.search(AGENT, query)
        expected = await stores.archival.search(kept, query)
        assert [p.id for p in got.items] == [p.id for p in expected.items], query.text
        assert got.total == expected.total
