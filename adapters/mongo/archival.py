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
completes it too). Deleting a source is abandoning a published document.

Every deletion (a passage, a source, an abandoned document, an erased agent) names the
passages' storage numbers in the agent's deletion log before deleting them
(``adapters.mongo.deletions``): every process's held index drops them before its next
search returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from adapters.mongo.codec import doc_id, passage_from_doc, passage_to_doc, position, utc
from adapters.mongo.connection import MongoConnection, translated
from adapters.mongo.deletions import LOG_ENTRIES, epoch, log_deletion, parts, runs
from adapters.mongo.passage_index import VISIBLE, PassageIndex, span
from adapters.text_index import Ranked
from core.ports.uploads import DocumentStatus
from core.records import ArchivalQuery, ArchivalSource, Page, Passage
from core.search.ranking import fuse, lexical_depth, query_terms, scores

PASSAGES = "passages"
COUNTERS = "archival_counters"
DOCUMENTS = "documents"
BATCH = 10_000  # passage numbers read at once when deleting


class MongoArchivalStore:
    def __init__(self, connection: MongoConnection, *, deletion_log: int = LOG_ENTRIES) -> None:
        self.deletion_log = deletion_log  # deletions a reader may fall behind before a rebuild
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
            {"$inc": {"n": len(passages)}, **epoch()},
            {"n": 1},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert counter is not None  # an upsert returning the document after it
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
            page = ranked[query.offset : query.offset + query.limit]  # passage numbers
            docs = {}
            if page:  # by _id: nx-27017 scans the collection for an $in over another field
                ids = [doc_id(agent_key, held.pids[n]) for n in page if n in held.pids]
                docs = {d["n"]: d async for d in self._passages.find({"_id": {"$in": ids}})}
        shown = [p for p in page if p in docs]
        items = tuple(passage_from_doc(docs[p]) for p in shown)
        rated = scores(shown, found.ranked, semantic)
        return Page(items, total, query.offset, query.limit, exact_total=exact, scores=rated)

    async def count(self, agent_key: str) -> int:
        with translated(self._uri):
            return await self._passages.count_documents({"agent": agent_key, **VISIBLE})

    async def all(self, agent_key: str) -> list[Passage]:
        with translated(self._uri):
            cursor = self._passages.find({"pos": span(agent_key), **VISIBLE}).sort("pos", ASCENDING)
            return [passage_from_doc(d) async for d in cursor]

    async def erase(self, agent_key: str) -> None:
        """Every passage numbered so far is logged as deleted, then everything goes, the
        counter last (a new one starts a new epoch, which every reader notices)."""
        self.held.forget(agent_key)
        with translated(self._uri):
            counter = await self._counters.find_one({"_id": agent_key}, {"n": 1})
            if counter is not None and int(counter.get("n", 0)) > 0:
                bounds = [1, int(counter["n"])]
                await log_deletion(self._counters, agent_key, bounds, self.deletion_log)
            await self._passages.delete_many({"agent": agent_key})
            await self._documents.delete_many({"agent": agent_key})
            await self._counters.delete_one({"_id": agent_key})

    async def delete_passage(self, agent_key: str, passage_id: str) -> int:
        key = doc_id(agent_key, passage_id)
        with translated(self._uri):
            found = await self._passages.find_one({"_id": key, **VISIBLE}, {"document_id": 1})
            if found is None:
                return 0
            deleted = await self._delete(agent_key, {"_id": key, **VISIBLE})
            document_id = found.get("document_id")
            if deleted and document_id is not None:  # its file has one passage fewer
                record = doc_id(agent_key, document_id)
                await self._documents.update_one({"_id": record}, {"$inc": {"passages": -deleted}})
                await self._documents.delete_one(
                    {"_id": record, "status": "published", "passages": {"$lte": 0}}
                )
            return deleted

    async def delete_source(self, agent_key: str, document_id: str | None) -> int:
        with translated(self._uri):
            if document_id is None:
                return await self._delete(agent_key, {"document_id": None, **VISIBLE})
            key = doc_id(agent_key, document_id)
            marked = await self._documents.update_one(
                {"_id": key, "status": {"$ne": "loading"}}, {"$set": {"status": "abandoning"}}
            )
            if not marked.matched_count and await self._documents.find_one({"_id": key}):
                return 0  # still loading: not a source yet
            return await self._abandon(agent_key, document_id)

    async def _delete(self, agent_key: str, where: dict[str, Any]) -> int:
        """Delete the agent's passages ``where`` selects, each logged before it is deleted;
        returns how many. Passages it selects that are written meanwhile go too."""
        deleted = 0
        while True:
            cursor = self._passages.find({"agent": agent_key, **where}, {"n": 1}).batch_size(BATCH)
            found = {d["n"]: d["_id"] async for d in cursor}
            if not found:
                return deleted
            for part in parts(found):
                await log_deletion(self._counters, agent_key, runs(part), self.deletion_log)
                # by _id, and only the copy numbered so (the one logged)
                done = await self._passages.delete_many(
                    {"_id": {"$in": [found[n] for n in part]}, "n": {"$in": part}}
                )
                deleted += done.deleted_count

    async def sources(self, agent_key: str) -> list[ArchivalSource]:
        with translated(self._uri):
            files = [
                ArchivalSource(
                    document_id=r["document_id"],
                    filename=r["filename"],
                    passages=int(r.get("passages", 0)),
                    stored_at=datetime.fromtimestamp(r.get("published_at", r["updated"]), UTC),
                )
                async for r in self._documents.find({"agent": agent_key, "status": "published"})
            ]
            own = await (
                await self._passages.aggregate(
                    [
                        {"$match": {"agent": agent_key, "document_id": None, **VISIBLE}},
                        {"$group": {"_id": None, "count": {"$sum": 1}, "last": {"$max": "$n"}}},
                    ]
                )
            ).to_list(None)
            latest = None
            if own and own[0]["count"]:  # when the newest was saved
                where = {"pos": position(agent_key, int(own[0]["last"]))}
                latest = await self._passages.find_one(where, {"created_at": 1})
        files.sort(key=lambda s: (s.stored_at, s.document_id or ""))
        if own and latest is not None:
            files.append(
                ArchivalSource(
                    document_id=None,
                    filename=None,
                    passages=int(own[0]["count"]),
                    stored_at=utc(latest["created_at"]),
                )
            )
        return files

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
            {"$inc": {"published": 1}, **epoch()},
            {"published": 1},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert counter is not None  # an upsert returning the document after it
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
                    "published_at": now.timestamp(),  # epoch seconds: set by $set
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

    async def _abandon(self, agent_key: str, document_id: str) -> int:
        deleted = await self._delete(agent_key, {"document_id": document_id})
        await self._documents.delete_one({"_id": doc_id(agent_key, document_id)})
        return deleted

    async def _drop_staged(self, agent_key: str, document_id: str) -> None:
        """Staged passages were never searchable: no process holds them, nothing to log."""
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
