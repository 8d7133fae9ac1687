"""Steps as they are stored, for whoever waits on an event's turn in this process (a
message sent through the operator API, streamed step by step).

The runtime tells the feed about every stored step (``TurnObserver.step_stored``, which it
passes on to the observer it wraps, e.g. the console's) and about every turn's end. A
subscriber gets the steps of one event through a queue; nothing is kept for events nobody
waits on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from core.events import Event
from core.messages import Message
from core.ports import TurnObserver
from core.turn.outcome import TurnOutcome


@dataclass(frozen=True, slots=True)
class StoredStep:
    messages: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class TurnEnded:
    error: str | None


class StepFeed:
    def __init__(self, observer: TurnObserver | None = None) -> None:
        self.observer = observer
        # each event's subscribers (a request and its retry with the same idempotency key
        # can both wait on one turn)
        self._queues: dict[str, list[asyncio.Queue[StoredStep | TurnEnded]]] = {}

    @contextmanager
    def watch(self, event_id: str) -> Iterator[asyncio.Queue[StoredStep | TurnEnded]]:
        """The steps of ``event_id``'s turn, as they are stored here, then its end."""
        queue: asyncio.Queue[StoredStep | TurnEnded] = asyncio.Queue()
        self._queues.setdefault(event_id, []).append(queue)
        try:
            yield queue
        finally:
            queues = self._queues[event_id]
            queues.remove(queue)
            if not queues:
                del self._queues[event_id]

    def step_stored(self, agent_key: str, messages: Sequence[Message]) -> None:
        if self.observer is not None:
            self.observer.step_stored(agent_key, messages)
        by_event: dict[str, list[Message]] = {}
        for message in messages:
            if message.event_id in self._queues:
                by_event.setdefault(message.event_id, []).append(message)
        for event_id, mine in by_event.items():
            for queue in self._queues[event_id]:
                queue.put_nowait(StoredStep(tuple(mine)))

    def turn_ended(self, event: Event, outcome: TurnOutcome | None, error: str | None) -> None:
        for queue in self._queues.get(event.event_id, ()):
            queue.put_nowait(TurnEnded(outcome.error if outcome is not None else error))
