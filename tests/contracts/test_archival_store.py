"""ArchivalStore contract: word, semantic and hybrid search; citations; isolation."""

from __future__ import annotations

from core.records import ArchivalQuery, Passage
from tests.contracts.conftest import Stores

AGENT = "slack:T1:U1"


def passage(pid: str, text: str, clock, embedding=None, **kw) -> Passage:
    return Passage(
        id=pid,
        text=text,
        source=kw.pop("source", "saved by you"),
        created_at=clock.now(),
        embedding=embedding,
        **kw,
    )


async def test_insert_is_idempotent_and_citations_round_trip(stores: Stores) -> None:
    p = passage(
        "doc1:0",
        "The warranty lasts two years.",
        stores.clock,
        source="manual.pdf",
        section="page 3",
        chunk_index=4,
        document_id="sha-1",
    )
    await stores.archival.insert(AGENT, [p])
    await stores.archival.insert(AGENT, [p])
    assert await stores.archival.count(AGENT) == 1
    (stored,) = await stores.archival.all(AGENT)
    assert (stored.source, stored.section, stored.chunk_index, stored.document_id) == (
        "manual.pdf",
        "page 3",
        4,
        "sha-1",
    )
    assert stored.citation() == "manual.pdf, page 3, chunk 5"


async def test_word_search_ranks_and_pages(stores: Stores) -> None:
    texts = [f"note {i}: the garden needs water" for i in range(7)] + [
        "passport renewal is due in March"
    ]
    await stores.archival.insert(
        AGENT, [passage(f"p{i}", t, stores.clock) for i, t in enumerate(texts)]
    )
    page = await stores.archival.search(AGENT, ArchivalQuery(text="passport renewing"))
    assert [p.id for p in page.items] == ["p7"]
    page = await stores.archival.search(
        AGENT, ArchivalQuery(text="garden water", offset=5, limit=5)
    )
    assert page.total == 7 and len(page.items) == 2


async def test_semantic_and_hybrid_search(stores: Stores) -> None:
    await stores.archival.insert(
        AGENT,
        [
            passage("cat", "Miso the cat sleeps all day", stores.clock, embedding=(1.0, 0.0, 0.0)),
            passage("car", "The car needs new tyres", stores.clock, embedding=(0.0, 1.0, 0.0)),
            passage("kitten", "A small feline napping", stores.clock, embedding=(0.9, 0.1, 0.0)),
        ],
    )
    semantic = await stores.archival.search(
        AGENT, ArchivalQuery(text="zzz", embedding=(1.0, 0.05, 0.0))
    )
    assert [p.id for p in semantic.items][:2] == ["cat", "kitten"]
    hybrid = await stores.archival.search(
        AGENT, ArchivalQuery(text="tyres", embedding=(0.0, 1.0, 0.0))
    )
    assert hybrid.items[0].id == "car"
    # passages inserted later are found too (the vector cache tops itself up)
    await stores.archival.insert(
        AGENT, [passage("dog", "A dog", stores.clock, embedding=(0.0, 0.0, 1.0))]
    )
    later = await stores.archival.search(AGENT, ArchivalQuery(text="", embedding=(0.0, 0.0, 1.0)))
    assert later.items[0].id == "dog"


async def test_agents_never_see_each_other(stores: Stores) -> None:
    await stores.archival.insert(
        "slack:T1:U1", [passage("x", "the vault code is 0451", stores.clock, embedding=(1.0, 0.0))]
    )
    await stores.archival.insert(
        "slack:T1:U2", [passage("y", "my vault", stores.clock, embedding=(0.0, 1.0))]
    )
    other = await stores.archival.search(
        "slack:T1:U2", ArchivalQuery(text="vault code 0451", embedding=(1.0, 0.0))
    )
    assert [p.id for p in other.items] == ["y"]
    await stores.archival.erase("slack:T1:U1")
    assert (
        await stores.archival.count("slack:T1:U1") == 0
        and await stores.archival.count("slack:T1:U2") == 1
    )


async def test_any_form_of_a_word_finds_the_others(stores: Stores) -> None:
    """One stemmer (Snowball) for passages and queries, applied once: "paintings" and
    "painting" find each other, on every store."""
    await stores.archival.insert(
        AGENT,
        [
            passage("art", "Melanie showed me her paintings of the lake.", stores.clock),
            passage("dog", "The dog breeds we saw were released last year.", stores.clock),
        ],
    )
    for words, expected in [
        ("paintings", ["art"]),
        ("painting", ["art"]),
        ("painted", ["art"]),
        ("breeds", ["dog"]),
        ("released", ["dog"]),
    ]:
        page = await stores.archival.search(AGENT, ArchivalQuery(text=words))
        assert [p.id for p in page.items] == expected, words


async def test_equal_scores_rank_the_newer_passage_first(stores: Stores) -> None:
    same = "the boat leaves at noon"
    await stores.archival.insert(AGENT, [passage("old", same, stores.clock)])
    await stores.archival.insert(AGENT, [passage("new", same, stores.clock)])
    page = await stores.archival.search(AGENT, ArchivalQuery(text="boat"))
    assert [p.id for p in page.items] == ["new", "old"]
