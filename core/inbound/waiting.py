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


@dataclass
class _Waiting:
    future: asyncio.Future[Handover | None]
    watchers: int = 0  # who took the future and has not let go of it


class Waiters:
    """One future per event, shared by everyone here who waits for it: the first delivery
    and its redeliveries, a submitter and the duplicate submitted meanwhile. A watcher either
    waits until the future resolves or ``unwatch``es it; the future is forgotten when it
    resolves or when the last watcher lets go, never while another still waits (a duplicate
    that took it away, or cancelled it, ended the first delivery's "typing" early)."""

    def __init__(self) -> None:
        self._waiting: dict[str, _Waiting] = {}

    def watch(self, event_id: str) -> asyncio.Future[Handover | None]:
        """A future that resolves once this process is done with ``event_id``."""
        waiting = self._waiting.get(event_id)
        if waiting is None or waiting.future.done():
            waiting = self._waiting[event_id] = _Waiting(asyncio.get_running_loop().create_future())
        waiting.watchers += 1
        return waiting.future

    def unwatch(self, event_id: str, future: asyncio.Future[Handover | None]) -> None:
        """A watcher of ``future`` stops waiting (a duplicate, or a submitter giving up)."""
        waiting = self._waiting.get(event_id)
        if waiting is None or waiting.future is not future:
            return  # resolved and forgotten already
        waiting.watchers -= 1
        if waiting.watchers <= 0:
            del self._waiting[event_id]

    def settle(self, event_id: str, handover: Handover | None) -> None:
        """Done with the event here: processed (None) or handed over; the waiters are told."""
        waiting = self._waiting.pop(event_id, None)
        if waiting is not None and not waiting.future.done():
            waiting.future.set_result(handover)

    def left(self, event_id: str) -> None:
        """The event stays unfinished in the inbox (stopping): its waiters are told so."""
        waiting = self._waiting.get(event_id)
        if waiting is not None and not waiting.future.done():
            waiting.future.set_result(Handover(None))
