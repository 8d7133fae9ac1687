"""The ranking every store shares: exact BM25 over an inverted index."""

from __future__ import annotations

import math
import random

from adapters.text_index import TermIndex, search_indexes
from core.search.ranking import K1, B, query_terms, terms

WORDS = "boat harbour ferry lisbon porto train ticket noon evening cat garden rain".split()


def _corpus(n: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))) for _ in range(n)]


def _reference(query: str, texts: list[str]) -> list[tuple[int, float]]:
    """BM25 by the textbook, over all of ``texts``: (index, score), best first, newer first."""
    docs = [terms(t) for t in texts]
    average = sum(map(len, docs)) / len(docs)
    scores = []
    for i, doc in enumerate(docs):
        score = 0.0
        for term in query_terms(query):
            df = sum(term in d for d in docs)
            tf = doc.count(term)
            if tf:
                idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
                score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * len(doc) / average))
        if score:
            scores.append((i, score))
    return sorted(scores, key=lambda s: (-round(s[1], 9), -s[0]))


def _index(texts: list[str]) -> TermIndex[int]:
    index: TermIndex[int] = TermIndex()
    index.add_many((i, terms(t), i) for i, t in enumerate(texts))
    return index


def test_scores_are_bm25_over_every_document_ties_newest_first() -> None:
    texts = _corpus(300)
    for query in ("boat", "lisbon ferry noon", "rain garden cat harbour"):
        got = _index(texts).search(query_terms(query))
        expected = _reference(query, texts)
        assert [k for k, _ in got.ranked] == [k for k, _ in expected]
        assert all(math.isclose(a, b) for (_, a), (_, b) in zip(got.ranked, expected, strict=True))
        assert got.total == len(expected)


def test_a_prefix_ranks_as_if_the_rest_were_not_there() -> None:
    texts = _corpus(200)
    whole, prefix = _index(texts), _index(texts[:120])
    words = query_terms("ticket train evening")
    assert whole.search(words, upto=119).ranked == prefix.search(words).ranked


def test_two_indexes_searched_together_rank_as_one() -> None:
    texts = _corpus(200)
    head, tail = _index(texts[:150]), TermIndex[int]()
    tail.add_many((i, terms(t), i) for i, t in enumerate(texts) if i >= 150)
    words = query_terms("porto boat cat")
    assert (
        search_indexes([head, tail], words, limit=10).ranked
        == _index(texts).search(words, limit=10).ranked
    )


def test_dropping_a_tail_forgets_it() -> None:
    texts = _corpus(100)
    index = _index(texts)
    assert index.drop_after(59) == 40
    words = query_terms("harbour rain")
    assert index.search(words).ranked == _index(texts[:60]).search(words).ranked
    index.add(60, terms("harbour harbour"), 60)
    assert (
        index.search(words).ranked == _index([*texts[:60], "harbour harbour"]).search(words).ranked
    )


def test_a_filter_and_a_limit_keep_the_best_of_what_is_accepted() -> None:
    texts = _corpus(100)
    words = query_terms("garden")
    everything = _index(texts).search(words)
    odd = _index(texts).search(words, limit=3, accept=lambda k: k % 2 == 1)
    assert [k for k, _ in odd.ranked] == [k for k, _ in everything.ranked if k % 2][:3]
    assert odd.total == sum(1 for k, _ in everything.ranked if k % 2)


def _same_ranking(index: TermIndex[int], documents: dict[int, tuple[str, int]]) -> None:
    """``index`` ranks as one built from scratch from ``documents`` (key -> (text, order)),
    added in order: the scores are equal to the last bit (so N, df, the average length and
    the term frequencies are), ties come in the same order, totals and prefixes agree."""
    fresh: TermIndex[int] = TermIndex()
    fresh.add_many(
        (key, terms(text), order)
        for key, (text, order) in sorted(documents.items(), key=lambda kv: kv[1][1])
    )
    assert len(index) == len(fresh) == len(documents)
    orders = sorted(order for _, order in documents.values())
    for query in ("boat", "lisbon ferry noon", "rain garden cat harbour", "evening porto", "zebra"):
        words = query_terms(query)
        got, expected = index.search(words), fresh.search(words)
        assert got.ranked == expected.ranked and got.total == expected.total, query
        assert index.search(words, limit=3).ranked == fresh.search(words, limit=3).ranked
        if orders:
            middle = orders[len(orders) // 2]
            assert (
                index.search(words, upto=middle).ranked == fresh.search(words, upto=middle).ranked
            )


def test_removing_documents_ranks_as_an_index_of_what_is_left() -> None:
    """Random removals (small ones that mask, large ones that compact), re-additions of
    removed keys and new documents, a tail dropped: after each step the index ranks exactly
    as one built from scratch from the documents left."""
    rng = random.Random(11)
    texts = _corpus(600, seed=5)
    documents = {i: (texts[i], i) for i in range(400)}
    index = _index(texts[:400])
    order = 400
    for step in range(12):
        share = rng.choice([0.005, 0.02, 0.1, 0.4])
        doomed = rng.sample(sorted(documents), max(1, int(len(documents) * share)))
        assert index.remove([*doomed, 10_000 + step]) == len(doomed), "unknown keys are skipped"
        assert index.remove(doomed[:1]) == 0, "removed once"
        for key in doomed:
            del documents[key]
        _same_ranking(index, documents)
        for _ in range(rng.randint(1, 40)):  # new documents, and removed keys stored again
            key = rng.choice(doomed) if rng.random() < 0.3 else 1_000 + order
            if key in documents:
                continue
            order += 1
            documents[key] = (texts[rng.randrange(len(texts))], order)
            assert index.add(key, terms(documents[key][0]), order)
        _same_ranking(index, documents)
    cut = sorted(o for _, o in documents.values())[len(documents) * 3 // 4]
    index.drop_after(cut)
    _same_ranking(index, {k: v for k, v in documents.items() if v[1] <= cut})


def test_removed_documents_are_found_in_neither_of_two_indexes_searched_together() -> None:
    texts = _corpus(200)
    head, tail = _index(texts[:150]), TermIndex[int]()
    tail.add_many((i, terms(t), i) for i, t in enumerate(texts) if i >= 150)
    head.remove(range(0, 150, 3))
    tail.remove([150, 199])
    left = [i for i in range(200) if (i >= 150 or i % 3) and i not in (150, 199)]
    fresh: TermIndex[int] = TermIndex()
    fresh.add_many((i, terms(texts[i]), i) for i in left)
    words = query_terms("porto boat cat")
    assert (
        search_indexes([head, tail], words, limit=10).ranked == fresh.search(words, limit=10).ranked
    )


async def test_removing_everything_then_adding_again() -> None:
    index = _index(_corpus(50))
    assert await index.remove_async(list(range(50))) == 50
    assert len(index) == 0 and index.search(query_terms("boat")).total == 0
    index.add(7, terms("boat harbour"), 60)
    assert [k for k, _ in index.search(query_terms("boat")).ranked] == [7]
