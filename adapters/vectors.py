"""An agent's passage vectors as one normalised float32 matrix: exact cosine search in numpy,
off the event loop when the matrix is large. Shared by the in-memory and MongoDB archival
stores, so semantic search ranks alike on both (ties: the earlier-added vector first).

A removed vector's row is zeroed: its cosine with any query is 0, and only positive scores
are returned, so it is never found; once a quarter of the rows are dead the matrix is
rewritten without them (same order: ties rank as before)."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

INLINE_ROWS = 5_000  # a smaller matrix is searched on the caller's thread
COMPACT_SHARE = 4  # rewrite the matrix once 1/COMPACT_SHARE of its rows are dead

K = TypeVar("K", bound=Hashable)


class VectorSet(Generic[K]):
    def __init__(self) -> None:
        self.ids: list[K] = []  # per row (a dead row keeps its id)
        self._rows: np.ndarray | None = None  # capacity grows by doubling
        self._row_of: dict[K, int] = {}  # live rows
        self._dead = 0

    def __len__(self) -> int:
        return len(self._row_of)

    @property
    def matrix(self) -> np.ndarray | None:
        return None if self._rows is None else self._rows[: len(self.ids)]

    def add(self, ids: Sequence[K], rows: Sequence[Sequence[float] | NDArray[Any]]) -> None:
        sizes = {len(r) for r in rows}
        if not ids or len(sizes) != 1:
            return
        block = np.asarray(rows, dtype=np.float32)
        block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
        if self._rows is None or self._rows.shape[1] != block.shape[1]:
            # the first vectors, or another model's
            self._rows, self.ids, self._row_of, self._dead = None, [], {}, 0
        self.remove(ids)  # an id added again replaces its vector
        used = len(self.ids)
        if self._rows is None or used + len(block) > len(self._rows):
            grown = np.empty((max(2 * (used + len(block)), 64), block.shape[1]), np.float32)
            if self._rows is not None:
                grown[:used] = self._rows[:used]
            self._rows = grown
        self._rows[used : used + len(block)] = block
        self.ids.extend(ids)
        self._row_of.update((key, used + i) for i, key in enumerate(ids))

    def remove(self, ids: Iterable[K]) -> int:
        """Forget these vectors (unknown ids are skipped); returns how many."""
        rows = [r for r in (self._row_of.pop(key, None) for key in ids) if r is not None]
        if not rows or self._rows is None:
            return 0
        self._rows[rows] = 0.0
        self._dead += len(rows)
        if self._dead * COMPACT_SHARE > len(self.ids):
            live = sorted(self._row_of.values())
            self._rows = self._rows[live].copy()
            self.ids = [self.ids[r] for r in live]
            self._row_of = {key: i for i, key in enumerate(self.ids)}
            self._dead = 0
        return len(rows)

    async def remove_async(self, ids: Sequence[K]) -> int:
        """``remove``, in a worker thread when it rewrites a large matrix."""
        compacts = (self._dead + len(ids)) * COMPACT_SHARE > len(self.ids)
        if compacts and len(self.ids) > INLINE_ROWS:
            return await asyncio.to_thread(self.remove, ids)
        return self.remove(ids)

    def nearest(self, embedding: Sequence[float], k: int) -> list[K]:
        matrix, ids = self.matrix, self.ids
        if matrix is None or not ids:
            return []
        q = np.asarray(embedding, dtype=np.float32)
        if q.shape[0] != matrix.shape[1]:
            return []  # vectors of another embedding model: no semantic match possible
        norm = float(np.linalg.norm(q))
        if norm == 0:
            return []
        scores = matrix @ (q / norm)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [ids[i] for i in top if scores[i] > 0]

    async def nearest_async(self, embedding: Sequence[float], k: int) -> list[K]:
        if self.matrix is None or self.matrix.shape[0] <= INLINE_ROWS:
            return self.nearest(embedding, k)
        return await asyncio.to_thread(self.nearest, embedding, k)
