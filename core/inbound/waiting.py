"""Who waits for an event to be dealt with here: an adapter showing "typing…", the console
waiting for its answer. Each gets a future that resolves once this process is done with the
event: processed (None), or handed over (``Handover``)."""

from __future__ import annotations

import asyncio
from collections import Counter
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
        self._holders: Counter[str] = Counter()  # submitters waiting for each event

    def watch(self, event_id: str) -> asyncio.Future[Handover | None]:
        """A future that resolves once this process is done with ``event_id``."""
        future = self._futures.get(event_id)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self._futures[event_id] = future
        return future

    def hold(self, event_id: str) -> asyncio.Future[Handover | None]:
        """``watch``, for a submitter that ``release``s it when it stops waiting: the future
        is forgotten when the last of them does (a duplicate submitted meanwhile shares it,
        and must not take it from the first)."""
        self._holders[event_id] += 1
        return self.watch(event_id)

    def release(self, event_id: str) -> None:
        self._holders[event_id] -= 1
        if self._holders[event_id] <= 0:
            del self._holders[event_id]
            self._futures.pop(event_id, None)

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
