"""The durable inbox: an event is stored (deduplicated by its id) before it is processed.

Documents are ``{_id: event_id, agent, order, status, event, by}``. ``order`` is the time
the event was recorded, in nanoseconds since the epoch by this machine's clock, made strictly
increasing within a process; pending events are read oldest first. On one machine that is
exactly the order in which events were recorded; across machines it is as exact as their
clocks agree (see the README, "Several replicas"). ``by`` names the worker that recorded it
(None for other processes, such as ``pagemind ingest``), so change streams can leave out a
worker's own events. Finished events keep their id (so a late redelivery is still recognised) until
``purge`` removes those finished longer than the retention ago (an application-side TTL:
``done`` is epoch seconds, as some servers keep dates written by ``$set`` as strings). Failed
events (``status: failed``, with the ``error``) are kept until their agent is erased.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta

from pymongo import ASCENDING
from pymongo.errors import BulkWriteError, DuplicateKeyError

from adapters.mongo.codec import event_from_doc, event_to_doc
from adapters.mongo.connection import MongoConnection, translated
from core.events import Event
from core.ports import Clock
from core.records import FailedEvent

DUPLICATE_KEY = 11000

INBOX = "inbox"


class MongoInbox:
    def __init__(
        self, connection: MongoConnection, clock: Clock, *, worker_id: str | None = None
    ) -> None:
        self._uri = connection.uri
        self._inbox = connection.db[INBOX]
        self._clock = clock
        self._worker_id = worker_id
        self._last_order = 0

    def _next_order(self) -> int:
        self._last_order = max(self._last_order + 1, time.time_ns())
        return self._last_order

    def _doc(self, event: Event) -> dict[str, object]:
        return event_to_doc(event, self._next_order(), self._clock.now()) | {"by": self._worker_id}

    async def put(self, event: Event) -> bool:
        doc = self._doc(event)
        with translated(self._uri):
            try:
                await self._inbox.insert_one(doc)
            except DuplicateKeyError:
                return False
        return True

    async def put_many(self, events: Sequence[Event]) -> list[bool]:
        if not events:
            return []
        docs = [self._doc(e) for e in events]
        new = [True] * len(docs)
        with translated(self._uri):
            try:
                await self._inbox.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != DUPLICATE_KEY for e in errors):
                    raise
                for error in errors:
                    new[error["index"]] = False
        return new

    async def pending(self, agent_key: str | None = None, limit: int = 1000) -> list[Event]:
        where: dict[str, object] = {"status": "pending"}
        if agent_key is not None:
            where["agent"] = agent_key
        with translated(self._uri):
            cursor = self._inbox.find(where, {"event": 1}).sort("order", ASCENDING).limit(limit)
            return [event_from_doc(d) async for d in cursor]

    async def is_pending(self, event_id: str) -> bool:
        with translated(self._uri):
            found = await self._inbox.find_one({"_id": event_id, "status": "pending"}, {"_id": 1})
        return found is not None

    async def mark_done(self, event_id: str, *, error: str | None = None) -> None:
        with translated(self._uri):
            await self._inbox.update_one(
                {"_id": event_id},
                {
                    "$set": {
                        "status": "failed" if error else "done",
                        "error": error,
                        "done": self._clock.now().timestamp(),
                    }
                },
            )

    async def failed(self, agent_key: str, limit: int = 1000) -> list[FailedEvent]:
        with translated(self._uri):
            cursor = (
                self._inbox.find({"agent": agent_key, "status": "failed"}, {"event": 1, "error": 1})
                .sort("order", ASCENDING)
                .limit(limit)
            )
            return [
                FailedEvent(event=event_from_doc(d), error=str(d.get("error") or "failed"))
                async for d in cursor
            ]

    async def erase(self, agent_key: str) -> None:
        with translated(self._uri):
            await self._inbox.delete_many({"agent": agent_key})

    async def purge(self, retention: timedelta) -> int:
        """Forget events finished more than ``retention`` ago; returns how many."""
        cutoff = (self._clock.now() - retention).timestamp()
        with translated(self._uri):
            result = await self._inbox.delete_many({"status": "done", "done": {"$lt": cutoff}})
        return result.deleted_count
