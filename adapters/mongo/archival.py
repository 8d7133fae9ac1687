"""Archival storage: passages with their source, searchable by words and by meaning.

Word search takes candidates from the text index (``adapters.mongo.text``) and ranks them
with ``core.ranking``. Semantic search is exact (brute force) over the agent's vectors, held
in a numpy matrix per agent and topped up as passages arrive: each insert takes a block of
numbers from a per-agent counter, so a reader fetches only passages numbered above what it
holds. (Atlas users could swap in ``$vectorSearch`` here; self-hosted MongoDB has no stable
equivalent, and nx-27017 none.) With both, results are fused by reciprocal rank.

Uploaded documents are staged: their passages are written with ``hidden: true`` and a
``documents`` record says "loading"; publishing marks the record "publishing", unhides the
passages in one ``update_many`` and marks it "published". A load that failed is marked
"abandoning" and every passage of it deleted (hidden or not: a publication that timed out may
have run all the same), then the record. After a crash, a publication is finished, a stalled
load is removed and an abandoning one completed (``recover_documents``; ``begin_document``
completes it too).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from adapters.mongo.codec import (
    doc_id,
    passage_from_doc,
    passage_to_doc,
    position,
    unpack_vector,
)
from adapters.mongo.connection import MongoConnection, translated
from adapters.mongo.text import candidates
from core.documents import DocumentStatus
from core.ranking import rank_by_bm25, reciprocal_rank_fusion
from core.records import ArchivalQuery, Page, Passage

PASSAGES = "passages"
COUNTERS = "archival_counters"
DOCUMENTS = "documents"
_LAST = 10**12 - 1
_VISIBLE = {"hidden": {"$ne": True}}
SETTLE_SECONDS = 5.0  # an insert that took a counter block has written it within this time
REBUILD_SECONDS = 600.0  # reload everything now and then, healing any slower writer


@dataclass
class _Vectors:
    """An agent's passage vectors in memory. Passages numbered up to ``settled`` are all
    loaded; newer numbers are re-read until they are older than ``SETTLE_SECONDS``.
    ``published`` counts the documents whose (earlier-numbered) passages are loaded."""

    built_at: float = field(default_factory=time.monotonic)
    settled: int = 0
    published: int = 0
    allocations: list[tuple[float, int]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    known: set[str] = field(default_factory=set)
    matrix: np.ndarray | None = None

    def add(self, ids: list[str], rows: list[np.ndarray]) -> None:
        fresh = [(i, r) for i, r in zip(ids, rows, strict=True) if i not in self.known]
        if not fresh or len({len(r) for _, r in fresh}) != 1:
            return
        block = np.stack([r for _, r in fresh])
        block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
        new_ids = [i for i, _ in fresh]
        if self.matrix is not None and self.matrix.shape[1] == block.shape[1]:
            self.matrix = np.vstack([self.matrix, block])
            self.ids.extend(new_ids)
        else:
            self.matrix, self.ids = block, new_ids
        self.known.update(new_ids)


class MongoArchivalStore:
    def __init__(self, connection: MongoConnection, *, candidate_limit: int = 300) -> None:
        self._uri = connection.uri
        self._passages = connection.db[PASSAGES]
        self._counters = connection.db[COUNTERS]
        self._documents = connection.db[DOCUMENTS]
        self.candidate_limit = candidate_limit
        self._vectors: dict[str, _Vectors] = {}

    async def insert(self, agent_key: str, passages: Sequence[Passage]) -> None:
        with translated(self._uri):
            await self._write(agent_key, passages, hidden=False)

    async def _write(self, agent_key: str, passages: Sequence[Passage], *, hidden: bool) -> None:
        if not passages:
            return
        counter = await self._counters.find_one_and_update(
            {"_id": agent_key},
            {"$inc": {"n": len(passages)}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        first = int(counter["n"]) - len(passages) + 1
        docs = [passage_to_doc(agent_key, p, first + i) for i, p in enumerate(passages)]
        if hidden:
            for doc in docs:
                doc["hidden"] = True
        try:
            await self._passages.insert_many(docs, ordered=False)
        except BulkWriteError as exc:  # the same passage ids again: already stored
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise

    async def search(self, agent_key: str, query: ArchivalQuery) -> Page[Passage]:
        with translated(self._uri):
            found, capped = await candidates(
                self._passages,
                query.text,
                # scoped by the indexed position, not ``agent``: with an ``agent`` filter,
                # nx-27017 scans that index instead of using the text index (2 s at 100k)
                {"pos": _span(agent_key), **_VISIBLE},
                order_field="n",
                key_field="pid",
                limit=self.candidate_limit,
            )
            pids, texts = [d["pid"] for d in found], [d["terms"] for d in found]
            rankings = [rank_by_bm25(query.text, pids, texts)]
            if query.embedding is not None:
                rankings.append(await self._nearest(agent_key, query.embedding, query.semantic_k))
            ranked = reciprocal_rank_fusion(rankings)
            page = ranked[query.offset : query.offset + query.limit]
            docs = {}
            if page:
                ids = [doc_id(agent_key, pid) for pid in page]
                docs = {d["pid"]: d async for d in self._passages.find({"_id": {"$in": ids}})}
        items = tuple(passage_from_doc(docs[p]) for p in page if p in docs)
        return Page(items, len(ranked), query.offset, query.limit, exact_total=not capped)

    async def _nearest(self, agent_key: str, embedding: Sequence[float], k: int) -> list[str]:
        vectors = await self._refresh(agent_key)
        if vectors.matrix is None or not vectors.ids:
            return []
        q = np.asarray(embedding, dtype=np.float32)
        if q.shape[0] != vectors.matrix.shape[1]:
            return []  # vectors of another embedding model: no semantic match possible
        norm = float(np.linalg.norm(q))
        if norm == 0:
            return []
        scores = vectors.matrix @ (q / norm)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [vectors.ids[i] for i in top if scores[i] > 0]

    async def _refresh(self, agent_key: str) -> _Vectors:
        now = time.monotonic()
        vectors = self._vectors.get(agent_key)
        if vectors is None or now - vectors.built_at > REBUILD_SECONDS:
            vectors = self._vectors[agent_key] = _Vectors(built_at=now)
        counter = await self._counters.find_one({"_id": agent_key}) or {}
        latest, published = int(counter.get("n", 0)), int(counter.get("published", 0))
        if published > vectors.published:
            # Documents published since: their passages were numbered while still hidden.
            done = self._documents.find(
                {"agent": agent_key, "published_seq": {"$gt": vectors.published}},
                {"document_id": 1},
            )
            document_ids = [d["document_id"] async for d in done]
            if document_ids:
                await self._load(
                    vectors, {"agent": agent_key, "document_id": {"$in": document_ids}}
                )
            vectors.published = published
        if latest <= vectors.settled:
            return vectors
        if not vectors.allocations or vectors.allocations[-1][1] != latest:
            vectors.allocations.append((now, latest))
        await self._load(vectors, {"pos": _span(agent_key, vectors.settled), **_VISIBLE})
        while vectors.allocations and vectors.allocations[0][0] < now - SETTLE_SECONDS:
            vectors.settled = max(vectors.settled, vectors.allocations.pop(0)[1])
        return vectors

    async def _load(self, vectors: _Vectors, where: dict[str, Any]) -> None:
        cursor = self._passages.find(
            {**where, "embedding": {"$exists": True}}, {"pid": 1, "embedding": 1}
        )
        ids, rows = [], []
        async for doc in cursor.batch_size(2000):
            if doc["pid"] not in vectors.known:
                ids.append(doc["pid"])
                rows.append(_as_array(doc["embedding"]))
        vectors.add(ids, rows)

    async def count(self, agent_key: str) -> int:
        with translated(self._uri):
            return await self._passages.count_documents({"agent": agent_key, **_VISIBLE})

    async def all(self, agent_key: str) -> list[Passage]:
        with translated(self._uri):
            cursor = self._passages.find({"pos": _span(agent_key), **_VISIBLE}).sort(
                "pos", ASCENDING
            )
            return [passage_from_doc(d) async for d in cursor]

    async def erase(self, agent_key: str) -> None:
        self._vectors.pop(agent_key, None)
        with translated(self._uri):
            await self._passages.delete_many({"agent": agent_key})
            await self._documents.delete_many({"agent": agent_key})
            await self._counters.delete_one({"_id": agent_key})

    # ------------------------------------------------------------------ staged documents

    async def begin_document(
        self, agent_key: str, document_id: str, filename: str, now: datetime, stale_after: float
    ) -> DocumentStatus:
        record = {
            "_id": doc_id(agent_key, document_id),
            "agent": agent_key,
            "document_id": document_id,
            "filename": filename,
            "status": "loading",
            "started_at": now,
            "updated": now.timestamp(),  # epoch seconds: it is changed by $set
        }
        with translated(self._uri):
            try:
                await self._documents.insert_one(record)
                return "new"
            except DuplicateKeyError:
                pass
            existing = await self._documents.find_one({"_id": record["_id"]})
            if existing is None:
                return await self.begin_document(agent_key, document_id, filename, now, stale_after)
            if existing["status"] == "published":
                return "stored"
            if existing["status"] == "publishing":
                await self._publish(agent_key, document_id, now)
                return "stored"
            if existing["status"] == "abandoning":
                await self._abandon(agent_key, document_id)
                return await self.begin_document(agent_key, document_id, filename, now, stale_after)
            if existing["updated"] > now.timestamp() - stale_after:
                return "busy"
            # A load that stopped (its process died): take it over from the start.
            taken = await self._documents.update_one(
                {"_id": record["_id"], "updated": existing["updated"]},
                {"$set": {"status": "loading", "updated": now.timestamp()}},
            )
            if taken.modified_count != 1:
                return "busy"
            await self._drop_staged(agent_key, document_id)
            return "new"

    async def stage(
        self, agent_key: str, document_id: str, passages: Sequence[Passage], now: datetime
    ) -> None:
        with translated(self._uri):
            await self._write(agent_key, passages, hidden=True)
            await self._documents.update_one(
                {"_id": doc_id(agent_key, document_id)}, {"$set": {"updated": now.timestamp()}}
            )

    async def publish_document(self, agent_key: str, document_id: str, now: datetime) -> int:
        with translated(self._uri):
            return await self._publish(agent_key, document_id, now)

    async def _publish(self, agent_key: str, document_id: str, now: datetime) -> int:
        key = doc_id(agent_key, document_id)
        await self._documents.update_one(
            {"_id": key}, {"$set": {"status": "publishing", "updated": now.timestamp()}}
        )
        await self._passages.update_many(
            {"agent": agent_key, "document_id": document_id, "hidden": True},
            {"$set": {"hidden": False}},
        )
        counter = await self._counters.find_one_and_update(
            {"_id": agent_key},
            {"$inc": {"published": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        count = await self._passages.count_documents(
            {"agent": agent_key, "document_id": document_id}
        )
        await self._documents.update_one(
            {"_id": key},
            {
                "$set": {
                    "status": "published",
                    "updated": now.timestamp(),
                    "passages": count,
                    "published_seq": int(counter["published"]),
                }
            },
        )
        return count

    async def abandon_document(self, agent_key: str, document_id: str) -> None:
        with translated(self._uri):
            await self._documents.update_one(
                {"_id": doc_id(agent_key, document_id)}, {"$set": {"status": "abandoning"}}
            )
            await self._abandon(agent_key, document_id)

    async def _abandon(self, agent_key: str, document_id: str) -> None:
        await self._passages.delete_many({"agent": agent_key, "document_id": document_id})
        await self._documents.delete_one({"_id": doc_id(agent_key, document_id)})

    async def _drop_staged(self, agent_key: str, document_id: str) -> None:
        await self._passages.delete_many(
            {"agent": agent_key, "document_id": document_id, "hidden": True}
        )

    async def recover_documents(self, older_than: datetime) -> int:
        repaired = 0
        with translated(self._uri):
            async for record in self._documents.find({"status": "publishing"}):
                await self._publish(record["agent"], record["document_id"], older_than)
                repaired += 1
            stalled = self._documents.find(
                {"status": "loading", "updated": {"$lt": older_than.timestamp()}}
            )
            async for record in stalled:
                await self._drop_staged(record["agent"], record["document_id"])
                await self._documents.delete_one({"_id": record["_id"]})
                repaired += 1
            async for record in self._documents.find({"status": "abandoning"}):
                await self._abandon(record["agent"], record["document_id"])
                repaired += 1
        return repaired


def _as_array(stored: object) -> np.ndarray:
    if isinstance(stored, bytes):
        return np.frombuffer(stored, dtype="<f4").astype(np.float32)
    return np.asarray(unpack_vector(stored), dtype=np.float32)


def _span(agent_key: str, after: int = 0) -> dict[str, str]:
    """All of one agent's passages numbered above ``after``, by indexed position."""
    return {"$gt": position(agent_key, after), "$lte": position(agent_key, _LAST)}
