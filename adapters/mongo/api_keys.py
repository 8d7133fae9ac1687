"""Operator API keys in MongoDB: one document per key, the secret only as its SHA-256.

Times are ISO strings (``$set`` writes them; some servers keep a date written by ``$set`` as
a string anyway, so every time here is one)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from adapters.mongo.connection import MongoConnection, translated
from core.errors import ConcurrentUpdateError
from core.operator.records import ApiKey
from core.records import SCHEMA_VERSION

API_KEYS = "api_keys"


def _to_doc(key: ApiKey) -> dict[str, Any]:
    body = key.model_dump(mode="json", exclude={"id"})
    return {"_id": key.id, "v": SCHEMA_VERSION, **body}


def _from_doc(doc: dict[str, Any]) -> ApiKey:
    fields = {k: v for k, v in doc.items() if k not in ("_id", "v")}
    return ApiKey.model_validate({**fields, "id": doc["_id"]})


class MongoApiKeyStore:
    def __init__(self, connection: MongoConnection) -> None:
        self._uri = connection.uri
        self._keys = connection.db[API_KEYS]

    async def add(self, key: ApiKey) -> None:
        with translated(self._uri):
            try:
                await self._keys.insert_one(_to_doc(key))
            except DuplicateKeyError as exc:
                raise ConcurrentUpdateError(f"a key {key.id!r} exists already") from exc

    async def get(self, key_id: str) -> ApiKey | None:
        with translated(self._uri):
            doc = await self._keys.find_one({"_id": key_id})
        return _from_doc(doc) if doc else None

    async def all(self) -> list[ApiKey]:
        with translated(self._uri):
            found = [_from_doc(d) async for d in self._keys.find({}).sort("_id", ASCENDING)]
        return sorted(found, key=lambda k: (k.created_at, k.id))

    async def revoke(self, key_id: str, at: datetime) -> bool:
        with translated(self._uri):
            result = await self._keys.update_one(
                {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": at.isoformat()}}
            )
        return result.modified_count == 1

    async def touch(self, key_id: str, at: datetime) -> None:
        with translated(self._uri):
            await self._keys.update_one({"_id": key_id}, {"$set": {"last_used_at": at.isoformat()}})
