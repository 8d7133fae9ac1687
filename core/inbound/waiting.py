"""Who waits for an event to be dealt with here: an adapter showing "typing…", the console
waiting for its answer. Each gets a future that resolves once this process is done with the
event: processed (None), or handed over (``Handover``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from core.ports.workers import LeaseHolder


@dataclass(frozen=True)
class Handover:
    """An event this process left to another worker (``holder``), or unfinished in the
    inbox (``holder`` None: shutting down, or the lease was lost)."""

    holder: LeaseHolder | None


class Waiters:
    def __init__(self) -> None:
        self._futures: dict[str, asyncio.Future[Handover | None]] = {}

    def watch(self, event_id: str) -> asyncio.Future[Handover | None]:
        """A future that resolves once this process is done with ``event_id``."""
        future = self._futures.get(event_id)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self._futures[event_id] = future
        return future

    def watched(self, event_id: str) -> bool:
        """Someone waits for ``event_id`` here already."""
        future = self._futures.get(event_id)
        return future is not None and not future.done()

    def settle(self, event_id: str, handover: Handover | None) -> None:
        """Done with the event here: processed (None) or handed over; the waiter is told."""
        future = self._futures.pop(event_id, None)
        if future is not None and not future.done():
            future.set_result(handover)

    def left(self, event_id: str) -> None:
        """The event stays unfinished in the inbox (stopping): its waiter is told so."""
        future = self._futures.get(event_id)
        if future is not None and not future.done():
            future.set_result(Handover(None))

    def discard(self, event_id: str) -> None:
        self._futures.pop(event_id, None)
