"""Word matching and ranking shared by every store, so all of them rank alike.

Stores find candidates (a database text index, or a scan in memory); the order is decided
here: BM25 over our own terms, and reciprocal-rank fusion when a semantic ranking is mixed in.
Terms are lower-cased words with a light English suffix stemming, so "cats" finds "cat" and
"planning" finds "plans" on every backend alike.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

_WORD = re.compile(r"\w+(?:'\w+)*", re.UNICODE)
STOPWORDS = frozenset(
    "a an and are as at be but by did do does for from had has have he her his i if in into is "
    "it its me my no not of on or our she so than that the their them then there these they "
    "this to too us was we were what when where which who why will with you your".split()
)


def stem(word: str) -> str:
    """A deliberately light English stemmer: possessives, plurals, -ing and -ed."""
    if word.endswith("'s"):
        word = word[:-2]
    word = word.replace("'", "")  # don't -> dont: text indexes split on apostrophes
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if len(base) >= 4 and base[-1] == base[-2] and base[-1] not in "aeiouslz":
                base = base[:-1]  # planned -> plan, running -> run
            return base
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    """The searchable terms of ``text``, in order (stop words dropped)."""
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def query_terms(text: str) -> list[str]:
    """Distinct terms of a query, in order of first appearance."""
    return list(dict.fromkeys(terms(text)))


def matches(query: str, text: str) -> bool:
    """Whether ``text`` has any of the query's terms (the candidate rule of every store)."""
    wanted = set(query_terms(query))
    return bool(wanted) and not wanted.isdisjoint(terms(text))


def bm25(query: str, documents: Sequence[str], k1: float = 1.2, b: float = 0.75) -> list[float]:
    """A BM25 score per document (0 when it shares no term with the query). Document
    frequencies are taken over ``documents``: the candidate set."""
    wanted = query_terms(query)
    if not wanted or not documents:
        return [0.0] * len(documents)
    counted = [Counter(terms(d)) for d in documents]
    lengths = [sum(c.values()) for c in counted]
    average = (sum(lengths) / len(lengths)) or 1.0
    n = len(documents)
    idf = {}
    for term in wanted:
        df = sum(1 for c in counted if term in c)
        idf[term] = math.log(1 + (n - df + 0.5) / (df + 0.5))
    scores = []
    for counts, length in zip(counted, lengths, strict=True):
        score = 0.0
        for term in wanted:
            f = counts.get(term, 0)
            if f:
                score += idf[term] * f * (k1 + 1) / (f + k1 * (1 - b + b * length / average))
        scores.append(score)
    return scores


def rank_by_bm25(query: str, keys: Sequence[K], texts: Sequence[str]) -> list[K]:
    """``keys`` of the documents that match ``query``, best first (ties: later keys first)."""
    scores = bm25(query, texts)
    order = sorted(range(len(keys)), key=lambda i: (-scores[i], -i))
    return [keys[i] for i in order if scores[i] > 0]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[K]], k: int = 60) -> list[K]:
    """Merge rankings: each item scores sum(1 / (k + rank)) over the lists it appears in."""
    scores: dict[K, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores, key=lambda key: -scores[key])
