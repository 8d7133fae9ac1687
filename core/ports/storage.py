"""The stores: agents' state, recall (every message), archival (passages and uploaded
documents), and the inbox of events waiting for their agent.

``adapters.inmemory`` implements each in memory and ``adapters.mongo`` in MongoDB; the same
contract suite in ``tests/contracts`` runs against both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from core.events import Event
from core.messages import Message
from core.ports.uploads import DocumentStatus
from core.records import (
    AgentState,
    ArchivalQuery,
    ArchivalSource,
    FailedEvent,
    Page,
    Passage,
    RecallQuery,
)


class AgentStore(Protocol):
    async def load(self, agent_key: str) -> AgentState | None: ...

    async def save(self, state: AgentState, expected_version: int | None) -> AgentState:
        """Store ``state`` with ``version = expected_version + 1`` and return it.

        ``expected_version=None`` creates the agent. Raises ``ConcurrentUpdateError`` if the
        stored version is not ``expected_version`` (or, on create, if the agent exists).
        """
        ...

    async def list_keys(self) -> list[str]: ...

    async def erase(self, agent_key: str) -> None: ...


class RecallStore(Protocol):
    async def append(self, agent_key: str, messages: Sequence[Message]) -> None:
        """Store messages. Idempotent by ``(agent_key, seq)``: a replay overwrites."""
        ...

    async def range(self, agent_key: str, after_seq: int, upto_seq: int) -> list[Message]:
        """Messages with ``after_seq < seq <= upto_seq``, in order."""
        ...

    async def search(self, agent_key: str, query: RecallQuery) -> Page[Message]: ...

    async def count(self, agent_key: str) -> int: ...

    async def discard_after(self, agent_key: str, seq: int) -> int:
        """Delete messages with ``seq`` above the last committed one (a crashed step's)."""
        ...

    async def erase(self, agent_key: str) -> None: ...

    async def forget_author(self, agent_key: str, author_id: str) -> int:
        """Delete every message ``author_id`` wrote to the agent (a person erased from a
        group agent); returns how many. Idempotent. Listing and reading no longer show
        them at once; nor does word search, in this process at once and in any other
        sharing the store from its next search (its held index is not left counting them)."""
        ...


class ArchivalStore(Protocol):
    async def insert(self, agent_key: str, passages: Sequence[Passage]) -> None:
        """Store passages, searchable at once. Idempotent by passage ``id``."""
        ...

    async def search(self, agent_key: str, query: ArchivalQuery) -> Page[Passage]: ...

    async def count(self, agent_key: str) -> int: ...

    async def all(self, agent_key: str) -> list[Passage]: ...

    async def erase(self, agent_key: str) -> None: ...

    # Deletions are seen at once by every search, in every process sharing the store.

    async def delete_passage(self, agent_key: str, passage_id: str) -> int:
        """Delete one searchable passage; returns how many were deleted (0 or 1)."""
        ...

    async def delete_source(self, agent_key: str, document_id: str | None) -> int:
        """Delete every passage of one uploaded file (by its document id), or with None
        every passage the agent saved itself; returns how many. A file still loading is not
        a source yet: 0, and it goes on loading."""
        ...

    async def sources(self, agent_key: str) -> list[ArchivalSource]:
        """The agent's uploaded files in the order they were stored, then, if it saved any,
        one entry for the passages it saved itself."""
        ...

    # An uploaded document becomes searchable all at once: its passages are staged
    # (invisible), then published together. After a crash, ``recover_documents`` rolls a
    # publication forward and a staging that stopped back.

    async def begin_document(
        self, agent_key: str, document_id: str, filename: str, now: datetime, stale_after: float
    ) -> DocumentStatus:
        """ "new" to go ahead; "stored" if this document is already there; "busy" if it is
        being loaded right now (a load silent for ``stale_after`` seconds is taken over)."""
        ...

    async def stage(
        self, agent_key: str, document_id: str, passages: Sequence[Passage], now: datetime
    ) -> None:
        """Store passages of a document being loaded, not yet searchable."""
        ...

    async def publish_document(self, agent_key: str, document_id: str, now: datetime) -> int:
        """Make every staged passage of the document searchable; returns how many."""
        ...

    async def abandon_document(self, agent_key: str, document_id: str) -> None:
        """Drop a document that failed to load, staged passages and all."""
        ...

    async def recover_documents(self, older_than: datetime) -> int:
        """Finish publications and drop stalled loads begun before ``older_than``; returns
        how many documents were repaired."""
        ...


class Inbox(Protocol):
    """Events waiting for their agent, kept until the turn that handles them is stored.

    Adapters ``put`` an event before anything else happens to it; the dispatcher marks it
    done only after its turn is stored, so a restart finds whatever was left unfinished.
    """

    async def put(self, event: Event) -> bool:
        """Record ``event``; False if an event with the same id was already recorded."""
        ...

    async def put_many(self, events: Sequence[Event]) -> list[bool]:
        """Record several events in one round trip, in order; for each, whether it was new."""
        ...

    async def pending(self, agent_key: str | None = None, limit: int = 1000) -> list[Event]:
        """Unfinished events in arrival order (for one agent, or all)."""
        ...

    async def mark_done(self, event_id: str, *, error: str | None = None) -> None:
        """Finished; with ``error``, failed: kept with the reason (see ``failed``), never
        purged, until the agent is erased."""
        ...

    async def failed(self, agent_key: str, limit: int = 1000) -> list[FailedEvent]:
        """The agent's events that ended with an error, oldest first (until purged)."""
        ...

    async def is_pending(self, event_id: str) -> bool:
        """Recorded and not done yet (False for an unknown or purged event)."""
        ...

    async def erase(self, agent_key: str) -> None: ...

    async def purge(self, retention: timedelta) -> int:
        """Forget events finished longer than ``retention`` ago (a redelivery older than that
        is no longer recognised), failed ones excepted; returns how many."""
        ...
