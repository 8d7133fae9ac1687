"""The audit log in MongoDB: one document per operator write, ``_id`` sorting as time does,
read newest first by ``_id`` (a keyset: an entry written between two pages never shifts
them)."""

from __future__ import annotations

from typing import Any

from pymongo import DESCENDING

from adapters.mongo.connection import MongoConnection, translated
from core.operator.records import AuditEntry
from core.records import SCHEMA_VERSION

AUDIT = "audit"


class MongoAuditLog:
    def __init__(self, connection: MongoConnection) -> None:
        self._uri = connection.uri
        self._audit = connection.db[AUDIT]

    async def append(self, entry: AuditEntry) -> None:
        doc = {
            "_id": entry.id,
            "v": SCHEMA_VERSION,
            "agent": entry.agent,
            "entry": entry.model_dump(mode="json"),
        }
        with translated(self._uri):
            await self._audit.insert_one(doc)

    async def page(
        self, *, before: str | None, limit: int, agent: str | None = None
    ) -> list[AuditEntry]:
        where: dict[str, Any] = {}
        if before is not None:
            where["_id"] = {"$lt": before}
        if agent is not None:
            where["agent"] = agent
        with translated(self._uri):
            cursor = self._audit.find(where).sort("_id", DESCENDING).limit(limit)
            return [AuditEntry.model_validate(d["entry"]) async for d in cursor]
