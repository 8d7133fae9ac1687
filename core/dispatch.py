"""Per-agent ordering: events for one agent run one at a time, in arrival order.

Each agent with work has a queue and a worker task; a semaphore bounds how many turns run at
once across agents. With an inbox, an event is recorded before it is queued (a duplicate id
is dropped there) and marked done only after its turn is stored, so a restart can pick up
whatever was left unfinished.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from core.errors import ConcurrentUpdateError, StorageError
from core.events import Event
from core.ports import Inbox

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[object]]


class AgentDispatcher:
    def __init__(
        self,
        handle: Handler,
        *,
        inbox: Inbox | None = None,
        max_concurrent_turns: int = 8,
        idle_seconds: float = 30.0,
        attempts: int = 3,
        retry_delay: float = 1.0,
    ) -> None:
        self._handle = handle
        self._inbox = inbox
        self._slots = asyncio.Semaphore(max_concurrent_turns)
        self._idle = idle_seconds
        self._attempts = attempts
        self._retry_delay = retry_delay
        self._queues: dict[str, asyncio.Queue[Event]] = {}
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._accepting = True

    async def submit(self, event: Event) -> bool:
        """Queue ``event`` for its agent. False if it was a duplicate or we are shutting down."""
        if not self._accepting:
            return False
        if self._inbox is not None and not await self._inbox.put(event):
            log.info(
                "duplicate event dropped",
                extra={"agent_key": event.agent_key, "event_id": event.event_id},
            )
            return False
        self._enqueue(event)
        return True

    async def submit_and_wait(self, event: Event) -> bool:
        """Queue ``event`` and wait until its turn has been processed."""
        done = asyncio.get_running_loop().create_future()
        self._waiters[event.event_id] = done
        try:
            if not await self.submit(event):
                return False
            await done
            return True
        finally:
            self._waiters.pop(event.event_id, None)

    async def recover(self) -> int:
        """Queue every unfinished event found in the inbox (after a restart)."""
        if self._inbox is None:
            return 0
        pending = await self._inbox.pending()
        for event in pending:
            self._enqueue(event)
        return len(pending)

    async def join(self) -> None:
        """Wait until every queued event has been processed."""
        for queue in list(self._queues.values()):
            await queue.join()

    async def drain(self) -> None:
        """Stop taking events, finish the ones queued, and stop the workers."""
        self._accepting = False
        await self.join()
        await self.aclose()

    async def aclose(self) -> None:
        self._accepting = False
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._workers.clear()
        self._queues.clear()

    def _enqueue(self, event: Event) -> None:
        key = event.agent_key
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
        queue.put_nowait(event)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key, queue), name=f"agent:{key}")

    async def _work(self, key: str, queue: asyncio.Queue[Event]) -> None:
        try:
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), self._idle)
                except TimeoutError:
                    if queue.empty():
                        return
                    continue
                try:
                    async with self._slots:
                        await self._process(event)
                finally:
                    queue.task_done()
                    waiter = self._waiters.get(event.event_id)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)
        finally:
            if self._workers.get(key) is asyncio.current_task():
                del self._workers[key]
                if queue.empty():
                    self._queues.pop(key, None)

    async def _process(self, event: Event) -> None:
        extra = {"agent_key": event.agent_key, "event_id": event.event_id}
        error: str | None = None
        for attempt in range(1, self._attempts + 1):
            try:
                outcome = await self._handle(event)
                error = getattr(outcome, "error", None)
                break
            except asyncio.CancelledError:
                raise
            except ConcurrentUpdateError:
                log.warning(
                    "another worker changed this agent; leaving the event to it", extra=extra
                )
                return
            except StorageError as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.warning("storage failed (attempt %d): %s", attempt, exc, extra=extra)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.exception("event failed (attempt %d)", attempt, extra=extra)
            if attempt < self._attempts:
                await asyncio.sleep(self._retry_delay * attempt)
        if self._inbox is not None:
            try:
                await self._inbox.mark_done(event.event_id, error=error)
            except StorageError:
                log.exception("could not mark the event done; it will be replayed", extra=extra)
