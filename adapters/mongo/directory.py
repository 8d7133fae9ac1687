"""The agents in key order, from the ``agents`` collection: one range query on ``_id`` per
slice of keys (a platform's or a scope's agents are a range of keys too), one ``$in`` on
``_id`` per slice of states."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING

from adapters.mongo.agents import AGENTS
from adapters.mongo.codec import state_from_doc
from adapters.mongo.connection import MongoConnection, translated
from core.records import AgentState

_TOP = "\U0010ffff"  # above every character a key can hold


class MongoAgentDirectory:
    def __init__(self, connection: MongoConnection) -> None:
        self._uri = connection.uri
        self._agents = connection.db[AGENTS]

    async def keys_after(self, key: str | None, limit: int, prefix: str = "") -> list[str]:
        bounds: dict[str, Any] = {}
        if key is not None and key >= prefix:
            bounds["$gt"] = key
        elif prefix:
            bounds["$gte"] = prefix
        if prefix:
            bounds["$lt"] = prefix + _TOP
        where = {"_id": bounds} if bounds else {}
        with translated(self._uri):
            cursor = self._agents.find(where, {"_id": 1}).sort("_id", ASCENDING).limit(limit)
            return [str(d["_id"]) async for d in cursor]

    async def states(self, keys: Sequence[str]) -> list[AgentState]:
        if not keys:
            return []
        with translated(self._uri):
            found = {
                str(d["_id"]): d async for d in self._agents.find({"_id": {"$in": list(keys)}})
            }
        return [state_from_doc(found[key]) for key in keys if key in found]
