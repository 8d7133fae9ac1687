"""BM25 ranking over a handful of documents: the in-memory stores' word search."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    "a an and are as at be but by for from has have i in is it its me my of on or so that the "
    "their them they this to was we were what when where which who will with you your".split()
)


def terms(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def bm25_scores(
    query: str, documents: Sequence[str], k1: float = 1.2, b: float = 0.75
) -> list[float]:
    """A score per document; 0 for documents sharing no term with the query."""
    q = set(terms(query))
    if not q or not documents:
        return [0.0] * len(documents)
    tokenized = [Counter(terms(d)) for d in documents]
    lengths = [sum(c.values()) for c in tokenized]
    avg = (sum(lengths) / len(lengths)) or 1.0
    n = len(documents)
    df = {t: sum(1 for c in tokenized if t in c) for t in q}
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in q}
    scores = []
    for counts, length in zip(tokenized, lengths, strict=True):
        score = 0.0
        for t in q:
            f = counts.get(t, 0)
            if f:
                score += idf[t] * f * (k1 + 1) / (f + k1 * (1 - b + b * length / avg))
        scores.append(score)
    return scores
