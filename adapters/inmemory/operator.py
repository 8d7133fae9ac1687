"""The operator layer's stores in process memory (``PAGEMIND_STORAGE=memory`` and tests).

Keys kept here die with the process: with in-memory storage, create a key and start the
server in one process (the API tests do), or use MongoDB."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime

from core.errors import ConcurrentUpdateError
from core.operator.records import ApiKey, AuditEntry, UploadJob
from core.ports import AgentStore
from core.records import AgentState


class InMemoryAgentDirectory:
    """The agents of an agent store, in key order (in memory: read from the store itself)."""

    def __init__(self, agents: AgentStore) -> None:
        self._agents = agents

    async def keys_after(self, key: str | None, limit: int, prefix: str = "") -> list[str]:
        keys = await self._agents.list_keys()  # sorted
        start = bisect_right(keys, key) if key is not None else 0
        found = [k for k in keys[start:] if k.startswith(prefix)]
        return found[:limit]

    async def states(self, keys: Sequence[str]) -> list[AgentState]:
        found = [await self._agents.load(key) for key in keys]
        return [state for state in found if state is not None]


class InMemoryApiKeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}

    async def add(self, key: ApiKey) -> None:
        if key.id in self._keys:
            raise ConcurrentUpdateError(f"a key {key.id!r} exists already")
        self._keys[key.id] = key

    async def get(self, key_id: str) -> ApiKey | None:
        return self._keys.get(key_id)

    async def all(self) -> list[ApiKey]:
        return sorted(self._keys.values(), key=lambda k: (k.created_at, k.id))

    async def revoke(self, key_id: str, at: datetime) -> bool:
        key = self._keys.get(key_id)
        if key is None or key.revoked:
            return False
        self._keys[key_id] = key.model_copy(update={"revoked_at": at})
        return True

    async def touch(self, key_id: str, at: datetime) -> None:
        key = self._keys.get(key_id)
        if key is not None:
            self._keys[key_id] = key.model_copy(update={"last_used_at": at})


class InMemoryAuditLog:
    def __init__(self) -> None:
        self._entries: dict[str, AuditEntry] = {}

    async def append(self, entry: AuditEntry) -> None:
        self._entries[entry.id] = entry

    async def page(
        self, *, before: str | None, limit: int, agent: str | None = None
    ) -> list[AuditEntry]:
        found = [
            e
            for i, e in self._entries.items()
            if (before is None or i < before) and (agent is None or e.agent == agent)
        ]
        return sorted(found, key=lambda e: e.id, reverse=True)[:limit]


class InMemoryUploadJobStore:
    def __init__(self) -> None:
        self._jobs: dict[str, UploadJob] = {}

    async def put(self, job: UploadJob) -> None:
        self._jobs[job.id] = job

    async def get(self, job_id: str) -> UploadJob | None:
        return self._jobs.get(job_id)

    async def for_agent(self, agent_key: str) -> list[UploadJob]:
        found = [j for j in self._jobs.values() if j.agent_key == agent_key]
        return sorted(found, key=lambda j: (j.created_at, j.id))

    async def erase(self, agent_key: str) -> int:
        gone = [i for i, j in self._jobs.items() if j.agent_key == agent_key]
        for job_id in gone:
            del self._jobs[job_id]
        return len(gone)
