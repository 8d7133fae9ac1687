"""An inverted index with exact BM25: the one ranking every store uses (the in-memory
stores and the MongoDB stores' per-process index share this module).

Documents are added with their terms (``core.search.ranking.terms``), a key and an ``order`` (the
order they were stored in: a message's sequence number, a passage's storage number). A
search scores every document holding a query term, so no storage order or candidate cap
can hide a good match:

    idf(t)   = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
    score(d) = sum over the query's terms t in d of
               idf(t) * (K1 + 1) * tf / (tf + K1 * (1 - B) + K1 * B * len(d) / avg_len)

with N, df and avg_len over everything indexed (up to ``upto``, when given), ``K1`` and
``B`` from ``core.search.ranking``. Scores are added up term by term in the query's order, with the
same floating-point operations (numpy, float64) in every store, so equal data gives equal
scores everywhere. Ties: the larger ``order`` (newer) first.

Postings are appended to compact arrays (``array``), which numpy reads (one copy each) at
search time. Threads: one writer at a time, under the index's lock; searches take the lock too.
The ``*_async`` helpers never make the event loop wait for it: small jobs run inline when
the lock is free, anything else in a worker thread.

Removal (``remove``) marks documents dead instead of rewriting postings: a removed
document's length leaves the totals at once, and searches mask its postings out before
counting document frequencies, so N, df, avg_len and every score are those of an index of
the documents left (and ties keep their order: numbering keeps insertion order). Once a
quarter of the numbers are dead, the postings are rewritten without them (``_compact``).
"""

from __future__ import annotations

import asyncio
import math
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from core.search.ranking import K1, B, query_terms, terms

K = TypeVar("K", bound=Hashable)

INLINE_POSTINGS = 4_000  # a search touching fewer postings runs on the caller's thread
INLINE_DOCUMENTS = 64  # so does adding this many documents
INLINE_REMOVALS = 10_000  # and removing this many, unless it compacts
COMPACT_SHARE = 4  # rewrite the postings once 1/COMPACT_SHARE of the numbers are dead


@dataclass(frozen=True, slots=True)
class Ranked(Generic[K]):
    ranked: list[tuple[K, float]]  # best first, at most ``limit``
    total: int  # documents that matched (and were accepted)


class TermIndex(Generic[K]):
    """Postings per term (document numbers and term frequencies, in insertion order)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._keys: list[K] = []
        self._orders = array("q")
        self._lengths = array("I")
        self._cumulative = array("Q", [0])  # total length of the first i documents
        # per term: document numbers (ascending) and term frequencies; two flat dicts of
        # arrays, so the garbage collector has no per-term objects to walk
        self._docs: dict[str, array[int]] = {}
        self._tfs: dict[str, array[int]] = {}
        self._numbers: dict[K, int] = {}  # live documents only
        self._alive = array("B")  # per document number: 0 once removed
        self._removed = 0  # dead document numbers (their postings are masked at search)
        self._monotone = True  # orders never decrease: ``upto`` can cut a prefix

    def __len__(self) -> int:
        return len(self._keys) - self._removed

    def __contains__(self, key: object) -> bool:
        return key in self._numbers

    @property
    def postings(self) -> int:
        return sum(len(docs) for docs in self._docs.values())

    def add(self, key: K, terms: Iterable[str], order: int) -> bool:
        """Index one document (no-op for a known key, or when it has no terms)."""
        with self.lock:
            return self._add(key, terms, order)

    def add_many(self, documents: Iterable[tuple[K, Iterable[str], int]]) -> int:
        with self.lock:
            return sum(self._add(key, terms, order) for key, terms, order in documents)

    async def add_many_async(self, documents: Sequence[tuple[K, Iterable[str], int]]) -> int:
        if len(documents) <= INLINE_DOCUMENTS and self.lock.acquire(blocking=False):
            try:
                return sum(self._add(key, terms, order) for key, terms, order in documents)
            finally:
                self.lock.release()
        return await asyncio.to_thread(self.add_many, documents)

    def _add(self, key: K, terms: Iterable[str], order: int) -> bool:
        if key in self._numbers:
            return False
        counts = Counter(terms)
        if not counts:
            return False
        number = len(self._keys)
        if self._orders and order < self._orders[-1]:
            self._monotone = False
        self._keys.append(key)
        self._alive.append(1)
        self._orders.append(order)
        length = sum(counts.values())
        self._lengths.append(length)
        self._cumulative.append(self._cumulative[-1] + length)
        self._numbers[key] = number
        for term, tf in counts.items():
            docs = self._docs.get(term)
            if docs is None:
                docs = self._docs[term] = array("I")
                self._tfs[term] = array("I")
            docs.append(number)
            self._tfs[term].append(tf)
        return True

    def drop_after(self, order: int) -> int:
        """Remove the documents with an order above ``order`` (orders must never have
        decreased); returns how many."""
        with self.lock:
            if not self._monotone:
                raise ValueError("drop_after needs documents added in order")
            cut = bisect_right(self._orders, order)
            dropped = len(self._keys) - cut
            if not dropped:
                return 0
            for term in list(self._docs):
                docs, tfs = self._docs[term], self._tfs[term]
                keep = bisect_left(docs, cut)
                if keep == 0:
                    del self._docs[term], self._tfs[term]
                elif keep < len(docs):
                    del docs[keep:], tfs[keep:]
            for number in range(cut, len(self._keys)):
                if self._alive[number]:
                    del self._numbers[self._keys[number]]
                else:
                    self._removed -= 1
                    dropped -= 1
            del self._keys[cut:]
            del self._orders[cut:], self._lengths[cut:], self._alive[cut:]
            del self._cumulative[cut + 1 :]
            return dropped

    def remove(self, keys: Iterable[K]) -> int:
        """Forget these documents (unknown keys are skipped); returns how many. A key can be
        added again afterwards (it is then a new document)."""
        with self.lock:
            return self._remove(keys)

    async def remove_async(self, keys: Collection[K]) -> int:
        """``remove``, off the event loop unless it is small and the lock is free."""
        small = len(keys) <= INLINE_REMOVALS and not self._compacts(len(keys))
        if small and self.lock.acquire(blocking=False):
            try:
                return self._remove(keys)
            finally:
                self.lock.release()
        return await asyncio.to_thread(self.remove, keys)

    def _compacts(self, more: int) -> bool:
        """Whether removing ``more`` documents would rewrite the postings."""
        return (self._removed + more) * COMPACT_SHARE > len(self._keys)

    def _remove(self, keys: Iterable[K]) -> int:
        numbers = [n for n in (self._numbers.pop(key, None) for key in keys) if n is not None]
        if not numbers:
            return 0
        for number in numbers:
            self._alive[number] = 0
            self._lengths[number] = 0
        self._removed += len(numbers)
        if self._compacts(0):
            self._compact()
        else:
            self._recount()
        return len(numbers)

    def _recount(self) -> None:
        """Total lengths of the first i documents again (removed ones count 0)."""
        totals = np.cumsum(_view(self._lengths, len(self._lengths)), dtype=np.uint64)
        self._cumulative = array("Q", [0])
        self._cumulative.frombytes(totals.tobytes())

    def _compact(self) -> None:
        """Renumber the live documents 0..n-1 (in the same order) and rewrite the postings
        without the dead ones."""
        count = len(self._keys)
        alive = _view(self._alive, count).astype(bool)
        live = np.flatnonzero(alive)
        first_dead = int(np.argmin(alive)) if len(live) < count else count
        renumber = np.cumsum(alive, dtype=np.int64) - 1
        for term in list(self._docs):
            docs = self._docs[term]
            if docs[-1] < first_dead:  # nothing dead among them, nothing renumbered
                continue
            numbers = _view(docs, len(docs))
            keep = alive[numbers]
            if not keep.any():
                del self._docs[term], self._tfs[term]
                continue
            self._docs[term] = array("I", renumber[numbers[keep]].astype(np.uint32).tobytes())
            self._tfs[term] = array("I", _view(self._tfs[term], len(docs))[keep].tobytes())
        self._keys = [self._keys[i] for i in live]
        self._orders = array("q", _view(self._orders, count)[live].tobytes())
        self._lengths = array("I", _view(self._lengths, count)[live].tobytes())
        self._alive = array("B", bytes([1]) * len(live))
        self._removed = 0
        self._monotone = bool(np.all(np.diff(_view(self._orders, len(live))) >= 0))
        self._numbers = {key: i for i, key in enumerate(self._keys)}
        self._recount()

    def _cut(self, upto: int | None) -> int:
        """How many documents (a prefix) have an order up to ``upto``."""
        if upto is None or not self._keys or self._orders[-1] <= upto:
            return len(self._keys)
        if not self._monotone:
            raise ValueError("a search up to an order needs documents added in order")
        return bisect_right(self._orders, upto)

    def work(self, terms: Sequence[str]) -> int:
        """Postings a search for ``terms`` reads (how much CPU it will take)."""
        return sum(len(self._docs.get(t, ())) for t in terms)

    def search(
        self,
        terms: Sequence[str],
        *,
        limit: int | None = None,
        upto: int | None = None,
        accept: Callable[[K], bool] | None = None,
    ) -> Ranked[K]:
        return search_indexes([self], terms, limit=limit, upto=upto, accept=accept)

    async def search_async(
        self,
        terms: Sequence[str],
        *,
        limit: int | None = None,
        upto: int | None = None,
        accept: Callable[[K], bool] | None = None,
    ) -> Ranked[K]:
        return await search_indexes_async([self], terms, limit=limit, upto=upto, accept=accept)


def search_indexes(
    indexes: Sequence[TermIndex[K]],
    terms: Sequence[str],
    *,
    limit: int | None = None,
    upto: int | None = None,
    accept: Callable[[K], bool] | None = None,
) -> Ranked[K]:
    """BM25 over the union of ``indexes`` (each document in one of them), as if one: the
    statistics are summed. ``terms`` are the query's distinct terms; ``upto`` keeps the
    documents whose order is at most it (in statistics too); ``accept`` filters results
    (not statistics); ``limit`` is how many to return (None: all)."""
    locks = [index.lock for index in indexes]
    for lock in locks:
        lock.acquire()
    try:
        return _search(indexes, terms, limit, upto, accept)
    finally:
        for lock in reversed(locks):
            lock.release()


async def search_indexes_async(
    indexes: Sequence[TermIndex[K]],
    terms: Sequence[str],
    *,
    limit: int | None = None,
    upto: int | None = None,
    accept: Callable[[K], bool] | None = None,
) -> Ranked[K]:
    """``search_indexes``, off the event loop unless it is small and the locks are free."""
    if sum(index.work(terms) for index in indexes) <= INLINE_POSTINGS:
        taken = []
        for index in indexes:
            if not index.lock.acquire(blocking=False):
                break
            taken.append(index.lock)
        try:
            if len(taken) == len(indexes):
                return _search(indexes, terms, limit, upto, accept)
        finally:
            for lock in reversed(taken):
                lock.release()
    return await asyncio.to_thread(
        search_indexes, indexes, terms, limit=limit, upto=upto, accept=accept
    )


def _search(
    indexes: Sequence[TermIndex[K]],
    terms: Sequence[str],
    limit: int | None,
    upto: int | None,
    accept: Callable[[K], bool] | None,
) -> Ranked[K]:
    cuts = [index._cut(upto) for index in indexes]
    # per index: which of its first ``cut`` numbers are live (None: all of them)
    masks = [
        _view(index._alive, cut).astype(bool) if index._removed else None
        for index, cut in zip(indexes, cuts, strict=True)
    ]
    count = sum(
        cut if mask is None else int(np.count_nonzero(mask))
        for cut, mask in zip(cuts, masks, strict=True)
    )
    if count == 0 or not terms:
        return Ranked([], 0)
    average = sum(index._cumulative[cut] for index, cut in zip(indexes, cuts, strict=True)) / count
    tf_norm = K1 * (1.0 - B)
    length_norm = K1 * B / average
    lengths = [_view(index._lengths, cut) for index, cut in zip(indexes, cuts, strict=True)]
    scores = [np.zeros(cut) for cut in cuts]
    for term in dict.fromkeys(terms):
        found: list[tuple[NDArray[Any], NDArray[np.float64]] | None] = []
        for index, cut, mask in zip(indexes, cuts, masks, strict=True):
            postings = index._docs.get(term)
            if postings is None:
                found.append(None)
                continue
            n = len(postings) if cut == len(index._keys) else bisect_left(postings, cut)
            numbers, tfs = _view(postings, n), _view(index._tfs[term], n).astype(np.float64)
            if mask is not None:  # removed documents' postings do not count
                keep = mask[numbers]
                numbers, tfs = numbers[keep], tfs[keep]
            found.append((numbers, tfs))
        df = sum(len(f[0]) for f in found if f is not None)
        if df == 0:
            continue
        weight = math.log(1.0 + (count - df + 0.5) / (df + 0.5)) * (K1 + 1.0)
        for f, score, length in zip(found, scores, lengths, strict=True):
            if f is not None and len(f[0]):
                hits, tf = f
                score[hits] += weight * tf / (tf + tf_norm + length_norm * length[hits])
    # candidates from every index: (index, document number, score, order)
    parts = []
    for i, (index, score) in enumerate(zip(indexes, scores, strict=True)):
        nonzero = np.flatnonzero(score)
        orders = _view(index._orders, len(index._keys))[nonzero]
        parts.append((np.full(len(nonzero), i), nonzero, score[nonzero], orders))
    which = np.concatenate([p[0] for p in parts])
    docs = np.concatenate([p[1] for p in parts])
    values = np.concatenate([p[2] for p in parts])
    orders = np.concatenate([p[3] for p in parts])
    if accept is None and limit is not None and len(values) > 4 * limit:
        # only the best ``limit`` scores (and any equal to the last) need sorting
        floor = np.partition(values, len(values) - limit)[len(values) - limit]
        keep = values >= floor
        total = len(values)
        which, docs, values, orders = which[keep], docs[keep], values[keep], orders[keep]
    else:
        total = None
    ranked = np.lexsort((-orders, -values))  # by score, then newer first
    out: list[tuple[K, float]] = []
    matched = 0
    for j in ranked:
        key = indexes[which[j]]._keys[docs[j]]
        if accept is not None and not accept(key):
            continue
        matched += 1
        if limit is None or len(out) < limit:
            out.append((key, float(values[j])))
        elif total is not None:
            break
    return Ranked(out, total if total is not None else matched)


def _view(values: array[int], n: int) -> np.ndarray:
    """The first ``n`` values as a numpy array, over a copy (a view of ``values`` itself
    would stop it from growing for as long as the view lives)."""
    if n == 0:
        return np.empty(0, dtype=np.dtype(values.typecode))
    return np.frombuffer(values[:n], dtype=np.dtype(values.typecode))


def rank_by_bm25(query: str, keys: Sequence[K], texts: Sequence[str]) -> list[K]:
    """``keys`` of the ``texts`` that match ``query``, best first: BM25 over these texts
    alone (ties: later keys first)."""
    index: TermIndex[K] = TermIndex()
    index.add_many(
        (key, terms(text), i) for i, (key, text) in enumerate(zip(keys, texts, strict=True))
    )
    return [key for key, _ in index.search(query_terms(query)).ranked]
