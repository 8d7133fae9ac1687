"""The edit history of working-context blocks in MongoDB (``memory_edits``): one document
per edit, identified by agent, block and version, so a replayed step's edit replaces the
one it wrote before instead of adding another; the edits of one step go in one command."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReplaceOne

from adapters.mongo.connection import MongoConnection, translated
from core.context.edits import MemoryEdit
from core.records import SCHEMA_VERSION

MEMORY_EDITS = "memory_edits"


def _id(edit: MemoryEdit) -> str:
    return f"{edit.agent_key}\n{edit.label}\n{edit.version:012d}"


class MongoMemoryEditStore:
    def __init__(self, connection: MongoConnection) -> None:
        self._uri = connection.uri
        self._edits = connection.db[MEMORY_EDITS]

    async def record(self, edits: Sequence[MemoryEdit]) -> None:
        if not edits:
            return
        writes = [
            ReplaceOne(
                {"_id": _id(edit)},
                {
                    "_id": _id(edit),
                    "v": SCHEMA_VERSION,
                    "agent": edit.agent_key,
                    "label": edit.label,
                    "version": edit.version,
                    "edit": edit.model_dump(mode="json"),
                },
                upsert=True,
            )
            for edit in edits
        ]
        with translated(self._uri):
            await self._edits.bulk_write(writes, ordered=True)

    async def page(
        self, agent_key: str, label: str, *, below: int | None, limit: int
    ) -> list[MemoryEdit]:
        where: dict[str, Any] = {"agent": agent_key, "label": label}
        if below is not None:
            where["version"] = {"$lt": below}
        with translated(self._uri):
            cursor = self._edits.find(where).sort("version", DESCENDING).limit(limit)
            return [MemoryEdit.model_validate(d["edit"]) async for d in cursor]

    async def all(self, agent_key: str) -> list[MemoryEdit]:
        with translated(self._uri):
            cursor = self._edits.find({"agent": agent_key}).sort(
                [("label", ASCENDING), ("version", ASCENDING)]
            )
            return [MemoryEdit.model_validate(d["edit"]) async for d in cursor]

    async def erase(self, agent_key: str, label: str | None = None) -> int:
        where: dict[str, Any] = {"agent": agent_key}
        if label is not None:
            where["label"] = label
        with translated(self._uri):
            result = await self._edits.delete_many(where)
        return result.deleted_count
