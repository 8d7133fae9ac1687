"""Agent state: one document per agent, saved with a version check (optimistic locking).

A save of the version this process last loaded or saved sends only the state's fields that
changed (``$set`` of ``state.<field>``): a turn changes a few (the event ids, the usage),
and the whole state is 5-15 KB; writing it all every turn cost nx-27017 0.3 ms more per
turn at 13 KB, and a real MongoDB as much again in its oplog. Any other save (another
process saved meanwhile, or this one has not seen the agent) sends the whole state.
"""

from __future__ import annotations

from collections import OrderedDict

from pymongo.errors import DuplicateKeyError

from adapters.mongo.codec import state_changes, state_from_doc, state_to_doc
from adapters.mongo.connection import MongoConnection, translated
from core.errors import ConcurrentUpdateError
from core.records import AgentState

AGENTS = "agents"


class MongoAgentStore:
    def __init__(self, connection: MongoConnection, *, remembered: int = 64) -> None:
        self._uri = connection.uri
        self._agents = connection.db[AGENTS]
        # the state each of the agents served most recently has as stored, as far as this
        # process knows (the very objects the sessions hold: no copy)
        self._stored: OrderedDict[str, AgentState] = OrderedDict()
        self._remembered = remembered

    async def load(self, agent_key: str) -> AgentState | None:
        with translated(self._uri):
            doc = await self._agents.find_one({"_id": agent_key})
        if not doc:
            self._stored.pop(agent_key, None)
            return None
        return self._remember(state_from_doc(doc))

    def _remember(self, state: AgentState) -> AgentState:
        self._stored[state.agent_key] = state
        self._stored.move_to_end(state.agent_key)
        while len(self._stored) > self._remembered:
            self._stored.popitem(last=False)
        return state

    async def save(self, state: AgentState, expected_version: int | None) -> AgentState:
        saved = state.model_copy(update={"version": (expected_version or 0) + 1})
        with translated(self._uri):
            if expected_version is None:
                try:
                    await self._agents.insert_one(state_to_doc(saved))
                except DuplicateKeyError as exc:
                    raise ConcurrentUpdateError(
                        f"agent {state.agent_key!r} already exists"
                    ) from exc
                return self._remember(saved)
            stored = self._stored.pop(state.agent_key, None)
            if (
                stored is not None
                and stored.version == expected_version
                and stored.created_at == saved.created_at  # not an agent erased and made anew
            ):
                body = state_changes(stored, saved)
            else:
                body = {k: v for k, v in state_to_doc(saved).items() if k != "_id"}
            # the version, of this very agent: not of one erased and made anew meanwhile
            made = saved.model_dump(mode="json", include={"created_at"})["created_at"]
            result = await self._agents.update_one(
                {"_id": state.agent_key, "version": expected_version, "state.created_at": made},
                {"$set": body},
            )
        if result.matched_count != 1:
            raise ConcurrentUpdateError(
                f"agent {state.agent_key!r} changed since version {expected_version}"
            )
        return self._remember(saved)

    async def list_keys(self) -> list[str]:
        with translated(self._uri):
            return sorted([str(d["_id"]) async for d in self._agents.find({}, {"_id": 1})])

    async def erase(self, agent_key: str) -> None:
        self._stored.pop(agent_key, None)
        with translated(self._uri):
            await self._agents.delete_one({"_id": agent_key})
