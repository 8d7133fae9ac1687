"""Word matching and ranking shared by every store, so all of them rank alike.

Terms are lower-cased words, stop words dropped, stemmed with the Snowball English (Porter2)
stemmer, the one search engines use: "paintings", "painting" and "painted" are all "paint".
Passages and queries go through the same ``terms``; stores keep a document's terms once
(MongoDB stores them, stemmed, in ``terms``) and never stem them again.

Every store ranks with the same inverted index (``adapters.text_index``): BM25 with document
frequencies, document count and average length over everything the agent keeps in that
store, ties broken newest first. Reciprocal-rank fusion merges it with a semantic ranking.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Hashable, Sequence
from typing import TypeVar

import snowballstemmer

from core.records import ArchivalQuery

K = TypeVar("K", bound=Hashable)

K1 = 1.2  # BM25 term-frequency saturation
B = 0.75  # BM25 length normalisation (tried 0.4-0.9 and K1 0.9-1.5: within 0.005 on LoCoMo)

_WORD = re.compile(r"\w+(?:'\w+)*", re.UNICODE)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'"})  # don’t -> don't
STOPWORDS = frozenset(
    "a an and are as at be but by did do does for from had has have he her his i if in into is "
    "it its me my no not of on or our she so than that the their them then there these they "
    "this to too us was we were what when where which who why will with you your".split()
)

_local = threading.local()  # a stemmer object is not safe to share between threads


def _stemmer() -> snowballstemmer.Stemmer:
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = snowballstemmer.stemmer("english")
    return stemmer


def terms(text: str) -> list[str]:
    """The searchable terms of ``text``, in order (stop words dropped; apostrophes too, as
    text indexes split on them: "don't" is "dont")."""
    words = [w for w in _WORD.findall(text.lower().translate(_APOSTROPHES)) if w not in STOPWORDS]
    if not words:
        return []
    return [str(s).replace("'", "") for s in _stemmer().stemWords(words)]


def message_terms(spoken_text: str) -> list[str]:
    """What a message is found by: the terms of what was said."""
    return terms(spoken_text)


def passage_terms(text: str, section: str | None = None) -> list[str]:
    """What a passage is found by: the terms of its text and of its section's title (a
    heading, or a chat session's date: a fact is often asked for by where it is)."""
    return terms(text) + terms(section) if section else terms(text)


def query_terms(text: str) -> list[str]:
    """Distinct terms of a query, in order of first appearance."""
    return list(dict.fromkeys(terms(text)))


LEXICAL_DEPTH = 100  # word matches fused with a semantic ranking


def lexical_depth(query: ArchivalQuery) -> int:
    """How many of the best word matches an archival search ranks: the page, or (fused with
    a semantic ranking) at least ``LEXICAL_DEPTH``; every store cuts the same list."""
    shown = query.offset + query.limit
    return max(shown, LEXICAL_DEPTH) if query.embedding is not None else shown


def fuse(
    words: Sequence[K], matched: int, semantic: Sequence[K] | None, depth: int
) -> tuple[list[K], int, bool]:
    """An archival search's ranking from its best ``depth`` word matches (of ``matched``)
    and, when the query has a vector, its semantic list: the keys best first, how many
    results there are, and whether that count is exact (fused with a semantic list, the word
    matches below ``depth`` are not ranked, so the count is a lower bound)."""
    if semantic is None:
        return list(words), matched, True
    ranked = reciprocal_rank_fusion([words, semantic])
    exact = matched <= depth
    return ranked, len(ranked) if exact else max(len(ranked), matched), exact


def scores(
    shown: Sequence[K], words: Sequence[tuple[K, float]], semantic: Sequence[K] | None
) -> tuple[float, ...]:
    """The scores of the results ``shown`` (a page of ``fuse``'s ranking): BM25 for a word
    search, the reciprocal-rank fusion score when fused with a semantic list."""
    if semantic is None:
        bm25 = dict(words)
        return tuple(bm25.get(key, 0.0) for key in shown)
    fused = _rrf_scores([[key for key, _ in words], semantic])
    return tuple(fused.get(key, 0.0) for key in shown)


def _rrf_scores(rankings: Sequence[Sequence[K]], k: int = 60) -> dict[K, float]:
    scores: dict[K, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank + 1)
    return scores


def reciprocal_rank_fusion(rankings: Sequence[Sequence[K]], k: int = 60) -> list[K]:
    """Merge rankings: each item scores sum(1 / (k + rank)) over the lists it appears in
    (ties keep the order of first appearance, the first ranking's first)."""
    fused = _rrf_scores(rankings, k)
    return sorted(fused, key=lambda key: -fused[key])
