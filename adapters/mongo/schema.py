"""Indexes and schema migrations, applied at start-up, idempotently.

Every document carries ``v``, the schema version it was written with. A migration brings
documents from version N-1 to N; each must be idempotent (safe to run again after a crash
half-way), and they run in order under a lock so two starting processes never both migrate.
The version reached is kept in ``meta`` as ``{_id: "schema", version}``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pymongo import ASCENDING, TEXT, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from adapters.mongo.agents import AGENTS
from adapters.mongo.archival import DOCUMENTS, PASSAGES
from adapters.mongo.audit import AUDIT
from adapters.mongo.checkins import CHECKINS
from adapters.mongo.codec import message_from_doc, message_search_terms, passage_search_terms
from adapters.mongo.connection import MongoConnection, translated
from adapters.mongo.inbox import INBOX
from adapters.mongo.memory_edits import MEMORY_EDITS
from adapters.mongo.recall import MESSAGES
from adapters.mongo.upload_jobs import UPLOAD_JOBS
from core.errors import StorageError
from core.ports import Clock
from core.records import SCHEMA_VERSION

log = logging.getLogger(__name__)

META = "meta"
Db = AsyncDatabase[dict[str, Any]]


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Db], Awaitable[None]]


async def restem_terms(db: Db) -> None:
    """Schema 2: recompute the stored search ``terms`` of messages and passages with the
    Snowball stemmer (schema 1 stored a hand-written light stemming). Idempotent: a document
    already at version 2 is skipped, and recomputing gives the same terms."""
    for name, terms_of in ((MESSAGES, _message_terms), (PASSAGES, _passage_terms)):
        collection = db[name]
        updates: list[UpdateOne] = []
        async for doc in collection.find({"v": {"$lt": 2}}).batch_size(1000):
            updates.append(
                UpdateOne({"_id": doc["_id"]}, {"$set": {"terms": terms_of(doc), "v": 2}})
            )
            if len(updates) >= 1000:
                await collection.bulk_write(updates, ordered=False)
                updates = []
        if updates:
            await collection.bulk_write(updates, ordered=False)


def _message_terms(doc: dict[str, Any]) -> str:
    return message_search_terms(message_from_doc(doc).spoken_text())


def _passage_terms(doc: dict[str, Any]) -> str:
    return passage_search_terms(doc.get("text", ""), doc.get("section"))


# Migrations of the stored schema, oldest first; a change to a stored shape adds an entry.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "search terms stemmed with Snowball (Porter2)", restem_terms),
)


def indexes() -> dict[str, list[IndexModel]]:
    return {
        MESSAGES: [
            IndexModel([("pos", ASCENDING)], unique=True),
            IndexModel([("terms", TEXT)], default_language="none"),
            IndexModel([("agent", ASCENDING), ("created_at", ASCENDING)]),
            IndexModel([("created_at", ASCENDING)]),
        ],
        PASSAGES: [
            IndexModel([("pos", ASCENDING)], unique=True),
            IndexModel([("terms", TEXT)], default_language="none"),
            IndexModel([("agent", ASCENDING)]),
            IndexModel([("document_id", ASCENDING)]),
        ],
        CHECKINS: [IndexModel([("next_due", ASCENDING)]), IndexModel([("agent", ASCENDING)])],
        DOCUMENTS: [IndexModel([("status", ASCENDING)]), IndexModel([("agent", ASCENDING)])],
        INBOX: [
            IndexModel([("status", ASCENDING), ("order", ASCENDING)]),
            IndexModel([("agent", ASCENDING)]),
            IndexModel([("done", ASCENDING)]),
        ],
        AGENTS: [IndexModel([("usage_day", ASCENDING)])],
        AUDIT: [IndexModel([("agent", ASCENDING)])],
        MEMORY_EDITS: [
            IndexModel([("agent", ASCENDING), ("label", ASCENDING), ("version", ASCENDING)])
        ],
        UPLOAD_JOBS: [IndexModel([("agent", ASCENDING)])],
    }


async def ensure_indexes(connection: MongoConnection) -> None:
    """Create the indexes that are missing. Existing ones are recognised by their keys;
    text indexes also by our own record in ``meta``, since nx-27017 does not list them (and
    fails when asked to create one again)."""
    meta = connection.db[META]
    with translated(connection.uri):
        record = await meta.find_one({"_id": "indexes"}) or {}
        made = set(record.get("text", []))
        for name, models in indexes().items():
            collection = connection.db[name]
            existing = [dict(ix["key"]) async for ix in await collection.list_indexes()]
            has_text = any("_fts" in keys for keys in existing) or name in made
            for model in models:
                keys = dict(model.document["key"])
                is_text = TEXT in keys.values()
                if has_text if is_text else keys in existing:
                    continue
                await collection.create_indexes([model])
                if is_text:
                    await meta.update_one(
                        {"_id": "indexes"}, {"$set": {"text": sorted(made | {name})}}, upsert=True
                    )
                    made.add(name)


async def migrate(
    connection: MongoConnection,
    clock: Clock,
    migrations: Sequence[Migration] = MIGRATIONS,
    *,
    target: int = SCHEMA_VERSION,
    lock_seconds: float = 600.0,
) -> list[int]:
    """Bring the stored data to ``target``; returns the versions applied."""
    meta = connection.db[META]
    with translated(connection.uri):
        state = await meta.find_one({"_id": "schema"})
        if state is None:
            # A database we have never written to needs no migration.
            fresh = not await connection.db[AGENTS].find_one({}, {"_id": 1})
            await meta.update_one(
                {"_id": "schema"},
                {"$setOnInsert": {"version": target if fresh else 1}},
                upsert=True,
            )
            state = await meta.find_one({"_id": "schema"})
        current = int(state["version"]) if state else 0
        todo = [
            m for m in sorted(migrations, key=lambda m: m.version) if current < m.version <= target
        ]
        if not todo:
            return []
        await _lock(connection, clock, lock_seconds)
        try:
            state = await meta.find_one({"_id": "schema"})
            current = int(state["version"]) if state else 0
            applied = []
            for migration in todo:
                if migration.version <= current:
                    continue
                log.info("migrating the schema to %d: %s", migration.version, migration.description)
                await migration.apply(connection.db)
                await meta.update_one({"_id": "schema"}, {"$set": {"version": migration.version}})
                applied.append(migration.version)
            return applied
        finally:
            await meta.delete_one({"_id": "migration-lock"})


async def _lock(connection: MongoConnection, clock: Clock, seconds: float) -> None:
    meta = connection.db[META]
    for _ in range(int(seconds * 2)):
        now = clock.now()
        await meta.delete_one({"_id": "migration-lock", "until": {"$lt": now}})
        try:
            await meta.insert_one(
                {"_id": "migration-lock", "until": now + timedelta(seconds=seconds)}
            )
            return
        except DuplicateKeyError:
            await asyncio.sleep(0.5)
    raise StorageError("another process has been migrating the schema for too long")
