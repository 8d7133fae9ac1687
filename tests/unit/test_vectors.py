"""Semantic search over one agent's vectors: removal forgets, and what is left ranks as a
set built from it alone."""

from __future__ import annotations

import random

from adapters.vectors import VectorSet


def test_removed_vectors_are_never_found_and_the_rest_rank_as_a_fresh_set() -> None:
    rng = random.Random(4)
    rows = {i: [rng.gauss(0, 1) for _ in range(8)] for i in range(300)}
    vectors: VectorSet[int] = VectorSet()
    vectors.add(list(rows), list(rows.values()))
    queries = [[rng.gauss(0, 1) for _ in range(8)] for _ in range(20)]
    for share in (0.01, 0.05, 0.3, 0.5):  # masked, then rewritten (compacted)
        doomed = rng.sample(sorted(rows), int(len(rows) * share))
        assert vectors.remove([*doomed, 10_000]) == len(doomed)
        for key in doomed:
            del rows[key]
        fresh: VectorSet[int] = VectorSet()
        fresh.add(list(rows), list(rows.values()))
        assert len(vectors) == len(fresh)
        for q in queries:
            got = vectors.nearest(q, 30)
            assert not set(got) & set(doomed)
            assert got == fresh.nearest(q, 30)
    vectors.add([doomed[0]], [queries[0]])  # a removed id stored again is found again
    assert vectors.nearest(queries[0], 1) == [doomed[0]]
