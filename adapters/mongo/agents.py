"""Agent state: one document per agent, saved with a version check (optimistic locking)."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from adapters.mongo.codec import state_from_doc, state_to_doc
from adapters.mongo.connection import MongoConnection, translated
from core.errors import ConcurrentUpdateError
from core.records import AgentState

AGENTS = "agents"


class MongoAgentStore:
    def __init__(self, connection: MongoConnection) -> None:
        self._uri = connection.uri
        self._agents = connection.db[AGENTS]

    async def load(self, agent_key: str) -> AgentState | None:
        with translated(self._uri):
            doc = await self._agents.find_one({"_id": agent_key})
        return state_from_doc(doc) if doc else None

    async def save(self, state: AgentState, expected_version: int | None) -> AgentState:
        saved = state.model_copy(update={"version": (expected_version or 0) + 1})
        doc = state_to_doc(saved)
        with translated(self._uri):
            if expected_version is None:
                try:
                    await self._agents.insert_one(doc)
                except DuplicateKeyError as exc:
                    raise ConcurrentUpdateError(
                        f"agent {state.agent_key!r} already exists"
                    ) from exc
                return saved
            body = {k: v for k, v in doc.items() if k != "_id"}
            result = await self._agents.update_one(
                {"_id": state.agent_key, "version": expected_version}, {"$set": body}
            )
        if result.matched_count != 1:
            raise ConcurrentUpdateError(
                f"agent {state.agent_key!r} changed since version {expected_version}"
            )
        return saved

    async def list_keys(self) -> list[str]:
        with translated(self._uri):
            return sorted([str(d["_id"]) async for d in self._agents.find({}, {"_id": 1})])

    async def erase(self, agent_key: str) -> None:
        with translated(self._uri):
            await self._agents.delete_one({"_id": agent_key})
