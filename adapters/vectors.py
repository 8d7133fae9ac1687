"""An agent's passage vectors as one normalised float32 matrix: exact cosine search in numpy,
off the event loop when the matrix is large. Shared by the in-memory and MongoDB archival
stores, so semantic search ranks alike on both (ties: the earlier-added vector first)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

INLINE_ROWS = 5_000  # a smaller matrix is searched on the caller's thread


class VectorSet:
    def __init__(self) -> None:
        self.ids: list[str] = []
        self._rows: np.ndarray | None = None  # capacity grows by doubling

    @property
    def matrix(self) -> np.ndarray | None:
        return None if self._rows is None else self._rows[: len(self.ids)]

    def add(self, ids: Sequence[str], rows: Sequence[Sequence[float]]) -> None:
        sizes = {len(r) for r in rows}
        if not ids or len(sizes) != 1:
            return
        block = np.asarray(rows, dtype=np.float32)
        block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
        if self._rows is None or self._rows.shape[1] != block.shape[1]:
            self._rows, self.ids = None, []  # the first vectors, or another model's
        used = len(self.ids)
        if self._rows is None or used + len(block) > len(self._rows):
            grown = np.empty((max(2 * (used + len(block)), 64), block.shape[1]), np.float32)
            if self._rows is not None:
                grown[:used] = self._rows[:used]
            self._rows = grown
        self._rows[used : used + len(block)] = block
        self.ids.extend(ids)

    def nearest(self, embedding: Sequence[float], k: int) -> list[str]:
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

    async def nearest_async(self, embedding: Sequence[float], k: int) -> list[str]:
        if self.matrix is None or self.matrix.shape[0] <= INLINE_ROWS:
            return self.nearest(embedding, k)
        return await asyncio.to_thread(self.nearest, embedding, k)
