"""The events this process has queued, per agent, and those it finished lately.

Its part in keeping a redelivered event from running twice: an event queued here twice (a
local submit and an inbox read racing) runs once, and an inbox read issued before an event
was marked done, returning after, cannot start it again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from core.events import Event
from core.inbound.waiting import Handover, Waiters

RECENTLY_FINISHED_SECONDS = 300.0


class LocalQueues:
    def __init__(self, waiters: Waiters) -> None:
        self._waiters = waiters
        self._queues: dict[str, deque[Event]] = {}
        self._wakeups: dict[str, asyncio.Event] = {}
        self._known: set[str] = set()  # queued or under way here
        self._finished: dict[str, float] = {}  # event id -> loop time it finished here
        self._settled = asyncio.Condition()
        self.left = 0  # events left unfinished by stopping

    def knows(self, event_id: str) -> bool:
        return event_id in self._known

    @property
    def busy(self) -> bool:
        """Whether events are queued or under way here."""
        return bool(self._known)

    def add(self, event: Event) -> bool:
        """Queue ``event`` for its agent; False if it is queued or running here already, or
        has just finished."""
        if event.event_id in self._known or event.event_id in self._finished:
            return False
        key = event.agent_key
        self._known.add(event.event_id)
        self.queue(key).append(event)
        self.wakeup(key).set()
        return True

    def queue(self, agent_key: str) -> deque[Event]:
        return self._queues.setdefault(agent_key, deque())

    def wakeup(self, agent_key: str) -> asyncio.Event:
        """Set when the agent's queue may have changed (its worker looks again)."""
        return self._wakeups.setdefault(agent_key, asyncio.Event())

    def wake(self, agent_key: str) -> bool:
        """Wake the agent's worker, if it has ever had one; whether it had."""
        wakeup = self._wakeups.get(agent_key)
        if wakeup is not None:
            wakeup.set()
        return wakeup is not None

    def wake_all(self) -> None:
        for wakeup in self._wakeups.values():
            wakeup.set()

    async def join(self) -> None:
        """Until every event queued here has been finished or handed over."""
        async with self._settled:
            await self._settled.wait_for(lambda: not self._known)

    async def refill(self, agent_key: str, pending: Sequence[Event]) -> None:
        """The inbox decides the order: the agent's unfinished events there, oldest first
        (less those finished here lately), replace what its local queue holds."""
        queue = self.queue(agent_key)
        fresh = [e for e in pending if e.event_id not in self._finished]
        wanted = {e.event_id for e in fresh}
        for event in queue:
            if event.event_id not in wanted:  # finished meanwhile by someone else
                await self.finish(event)
        queue.clear()
        queue.extend(fresh)
        self._known.update(wanted)

    async def finish(
        self, event: Event, *, processed: bool = False, handover: Handover | None = None
    ) -> None:
        """This process is done with ``event`` (processed, or left to another worker)."""
        if processed:
            now = asyncio.get_running_loop().time()
            recent = now - RECENTLY_FINISHED_SECONDS
            self._finished[event.event_id] = now
            if len(self._finished) > 10_000 or next(iter(self._finished.values())) < recent:
                self._finished = {k: t for k, t in self._finished.items() if t > recent}
        self._waiters.settle(event.event_id, handover)
        async with self._settled:
            self._known.discard(event.event_id)
            self._settled.notify_all()

    async def drop(self, agent_key: str, handover: Handover | None, *, stopping: bool) -> None:
        """Empty the agent's queue: its events are handed over, or (``handover`` None while
        stopping) left unfinished in the inbox."""
        queue = self._queues.get(agent_key)
        while queue:
            event = queue.popleft()
            if handover is None and stopping:
                self.leave(event)
                await self.finish(event, handover=Handover(None))
            else:
                await self.finish(event, handover=handover)

    def leave(self, event: Event) -> None:
        """``event`` stays unfinished in the inbox (stopping): counted, its waiter told."""
        self.left += 1
        self._waiters.left(event.event_id)
