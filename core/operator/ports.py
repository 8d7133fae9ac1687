"""The operator layer's ports (they move to ``core/ports/`` with the others).

Each store has an in-memory implementation (``adapters.inmemory.operator``) and a MongoDB one
(``adapters.mongo.api_keys``, ``adapters.mongo.audit``, ``adapters.mongo.upload_jobs``); one
contract suite (``tests/contracts/test_operator_stores.py``) runs on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from core.context.edits import MemoryEdit
from core.operator.records import ApiKey, AuditEntry, UploadJob
from core.records import AgentState


class AgentDirectoryStore(Protocol):
    """The agents in key order, a slice at a time (the directory pages through them without
    reading every key, and reads a slice's states in one round trip)."""

    async def keys_after(self, key: str | None, limit: int, prefix: str = "") -> list[str]:
        """At most ``limit`` agent keys above ``key`` (all when None) that start with
        ``prefix``, in ascending order."""
        ...

    async def states(self, keys: Sequence[str]) -> list[AgentState]:
        """The states of these agents, in the order given (an unknown key: left out)."""
        ...


class ApiKeyStore(Protocol):
    async def add(self, key: ApiKey) -> None:
        """Store a new key (ids are random; a clash raises ``ConcurrentUpdateError``)."""
        ...

    async def get(self, key_id: str) -> ApiKey | None: ...

    async def all(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        ...

    async def revoke(self, key_id: str, at: datetime) -> bool:
        """Revoke the key; False if there is no such key or it was revoked already."""
        ...

    async def touch(self, key_id: str, at: datetime) -> None:
        """Record that the key was used at ``at``."""
        ...


class AuditLog(Protocol):
    async def append(self, entry: AuditEntry) -> None: ...

    async def page(
        self, *, before: str | None, limit: int, agent: str | None = None
    ) -> list[AuditEntry]:
        """Entries newest first, with ``id`` below ``before`` (all when None), for one agent
        or all; at most ``limit``."""
        ...


class UploadJobStore(Protocol):
    async def put(self, job: UploadJob) -> None:
        """Create or replace the job (one document, written whole)."""
        ...

    async def get(self, job_id: str) -> UploadJob | None: ...

    async def for_agent(self, agent_key: str) -> list[UploadJob]:
        """The agent's jobs, oldest first."""
        ...

    async def erase(self, agent_key: str) -> int:
        """Delete the agent's jobs; how many."""
        ...


class MemoryEditStore(Protocol):
    """The edit history of working-context blocks (``memory_edits``). Written only when a
    block changes (with the step or operator change that changes it), never on the path of
    a message that edits nothing."""

    async def record(self, edits: Sequence[MemoryEdit]) -> None:
        """Store ``edits`` in one write. An edit with the agent, label and version of a stored
        one replaces it (the same step, replayed after a crash)."""
        ...

    async def page(
        self, agent_key: str, label: str, *, below: int | None, limit: int
    ) -> list[MemoryEdit]:
        """The block's edits newest first (highest version first), with versions below
        ``below`` (all when None); at most ``limit``."""
        ...

    async def all(self, agent_key: str) -> list[MemoryEdit]:
        """Every edit of the agent's blocks, by label then version (for its export)."""
        ...

    async def erase(self, agent_key: str, label: str | None = None) -> int:
        """Delete the agent's edits (of one block when ``label`` is given); how many."""
        ...
