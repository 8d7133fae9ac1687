"""Archival search gives each result its score (the operator sees why it ranked so), alike
on every backend."""

from __future__ import annotations

from core.records import ArchivalQuery, Passage
from tests.contracts.conftest import Stores


def passage(pid: str, text: str, clock, vector=None) -> Passage:  # type: ignore[no-untyped-def]
    return Passage(id=pid, text=text, source="test", created_at=clock.now(), embedding=vector)


async def test_word_search_scores_are_bm25_best_first(stores: Stores) -> None:
    await stores.archival.insert(
        "a",
        [
            passage("1", "green tea in the morning, green tea at night", stores.clock),
            passage("2", "a green bicycle", stores.clock),
            passage("3", "black coffee", stores.clock),
        ],
    )
    page = await stores.archival.search("a", ArchivalQuery(text="green tea", limit=5))
    assert [p.id for p in page.items] == ["1", "2"]
    assert len(page.scores) == 2 and page.scores[0] > page.scores[1] > 0
    second = await stores.archival.search("a", ArchivalQuery(text="green tea", offset=1, limit=1))
    assert second.scores == page.scores[1:]


async def test_fused_scores_are_reciprocal_rank_sums(stores: Stores) -> None:
    await stores.archival.insert(
        "a",
        [
            passage("1", "green tea", stores.clock, (0.6, 0.8)),
            passage("2", "black coffee", stores.clock, (0.0, 1.0)),
        ],
    )
    query = ArchivalQuery(text="tea", embedding=(0.0, 1.0), limit=5)
    page = await stores.archival.search("a", query)
    by_id = dict(zip([p.id for p in page.items], page.scores, strict=True))
    # "1": first in words, second by meaning; "2": first by meaning only
    assert by_id["1"] == 1 / 61 + 1 / 62 and by_id["2"] == 1 / 61
