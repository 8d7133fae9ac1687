"""System texts in MongoDB: one document per distinct text, ``_id`` its SHA-256. Written
with an upsert that sets nothing on a hash already there (the text is the hash's)."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.mongo.connection import MongoConnection, translated
from core.records import SCHEMA_VERSION

SYSTEM_TEXTS = "system_texts"


class MongoSystemTexts:
    def __init__(self, connection: MongoConnection) -> None:
        self._uri = connection.uri
        self._texts = connection.db[SYSTEM_TEXTS]

    async def put(self, sha256: str, text: str) -> None:
        doc = {"v": SCHEMA_VERSION, "text": text, "stored_at": datetime.now(UTC)}
        with translated(self._uri):
            await self._texts.update_one({"_id": sha256}, {"$setOnInsert": doc}, upsert=True)

    async def get(self, sha256: str) -> str | None:
        with translated(self._uri):
            doc = await self._texts.find_one({"_id": sha256})
        return None if doc is None else str(doc["text"])
