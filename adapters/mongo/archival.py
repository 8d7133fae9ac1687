"""Archival storage: passages with their source, searchable by words and by meaning.

Search runs over the agent's passages held in this process (``adapters.mongo.passage_index``,
topped up as passages arrive): word search is exact BM25 over every passage
(``adapters.text_index``, as the in-memory store ranks), semantic search exact cosine over the
vectors. (Atlas users could swap in ``$vectorSearch`` here; self-hosted MongoDB has no stable
equivalent, and nx-27017 none.) With both, results are fused by reciprocal rank. Only the
page shown is read back from the database.

Uploaded documents are staged: their passages are written with ``hidden: true`` and a
``documents`` record says "loading"; publishing marks the record "publishing", unhides the
passages in one ``update_many`` and marks it "published". A load that failed is marked
"abandoning" and every passage of it deleted (hidden or not: a publication that timed out may
have run all the same), then the record. After a crash, a publication is finished, a stalled
load is removed and an abandoning one completed (``recover_documents``; ``begin_document``
completes it too).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from adapters.mongo.codec import doc_id, passage_from_doc, passage_to_doc
from adapters.mongo.connection import MongoConnection, translated
from adapters.mongo.passage_index import VISIBLE, PassageIndex, span
from adapters.text_index import Ranked
from core.documents import DocumentStatus
from core.ranking import fuse, lexical_depth, query_terms
from core.records import ArchivalQuery, Page, Passage

PASSAGES = "passages"
COUNTERS = "archival_counters"
DOCUMENTS = "documents"


class MongoArchivalStore:
    def __init__(self, connection: MongoConnection) -> None:
        self._uri = connection.uri
        self._passages = connection.db[PASSAGES]
        self._counters = connection.db[COUNTERS]
        self._documents = connection.db[DOCUMENTS]
        self.held = PassageIndex(self._passages, self._counters, self._documents)

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
            held = await self.held.get(agent_key)
            words = query_terms(query.text)
            depth = lexical_depth(query)
            found = await held.index.search_async(words, limit=depth) if words else Ranked([], 0)
            semantic = None
            if query.embedding is not None:
                semantic = await held.vectors.nearest_async(query.embedding, query.semantic_k)
            ranked, total, exact = fuse(
                [key for key, _ in found.ranked], found.total, semantic, depth
            )
            page = ranked[query.offset : query.offset + query.limit]
            docs = {}
            if page:
                ids = [doc_id(agent_key, pid) for pid in page]
                docs = {d["pid"]: d async for d in self._passages.find({"_id": {"$in": ids}})}
        items = tuple(passage_from_doc(docs[p]) for p in page if p in docs)
        return Page(items, total, query.offset, query.limit, exact_total=exact)

    async def count(self, agent_key: str) -> int:
        with translated(self._uri):
            return await self._passages.count_documents({"agent": agent_key, **VISIBLE})

    async def all(self, agent_key: str) -> list[Passage]:
        with translated(self._uri):
            cursor = self._passages.find({"pos": span(agent_key), **VISIBLE}).sort("pos", ASCENDING)
            return [passage_from_doc(d) async for d in cursor]

    async def erase(self, agent_key: str) -> None:
        self.held.forget(agent_key)
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
