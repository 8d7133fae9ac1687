"""Per-agent ordering: events for one agent run one at a time, in arrival order.

Every event is recorded in the inbox before it is queued (a duplicate id is dropped there)
and marked done only after its turn is stored. Each agent with work gets a worker task; a
semaphore bounds how many turns run at once. A worker runs an agent only while it holds the
agent's lease, so two processes sharing a database never run the same agent at once.

Where events come from: ``submit`` (this process received them) and a poller that reads the
inbox every ``poll_interval`` (events other processes recorded, and anything left unfinished
by a crash). While other live workers share the database, a worker takes each next event
from the inbox itself, oldest first, so order holds across processes; alone, it trusts its
own queue and saves that read.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from core.errors import ConcurrentUpdateError, StorageError
from core.events import Event
from core.leases import SoleWorkerLeases
from core.ports import Inbox, Leases

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[object]]
GiveUp = Callable[[Event, str], Awaitable[None]]
PURGE_SECONDS = 3600.0  # how often finished events past their retention are deleted


class AgentDispatcher:
    def __init__(
        self,
        handle: Handler,
        *,
        inbox: Inbox,
        leases: Leases | None = None,
        forget: Callable[[str], None] | None = None,
        give_up: GiveUp | None = None,
        max_concurrent_turns: int = 8,
        idle_seconds: float = 300.0,
        poll_interval: float = 1.0,
        attempts: int = 3,
        retry_delay: float = 1.0,
        inbox_retention: timedelta = timedelta(days=7),
    ) -> None:
        self._handle = handle
        self._inbox = inbox
        self._leases: Leases = leases or SoleWorkerLeases()
        self._forget = forget or (lambda agent_key: None)
        self._give_up = give_up
        self._slots = asyncio.Semaphore(max_concurrent_turns)
        self._idle = idle_seconds
        self._poll_interval = poll_interval
        self._attempts = attempts
        self._retry_delay = retry_delay
        self._retention = inbox_retention
        self._queues: dict[str, deque[Event]] = {}
        self._wakeups: dict[str, asyncio.Event] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._known: set[str] = set()
        # Events finished here lately: an inbox read issued before one was marked done can
        # still list it when it returns, and must not start it again.
        self._finished: dict[str, float] = {}
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._settled = asyncio.Condition()
        self._elsewhere: dict[str, float] = {}  # agent -> loop time to try its lease again
        self._accepting = True
        self._closing = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> int:
        """Queue what the inbox holds unfinished, then poll it and keep leases renewed."""
        recovered = await self.poll_once()
        self._spawn(self._poll_forever(), "inbox-poller")
        self._spawn(self._leases.maintain(self._lost), "lease-renewal")
        return recovered

    async def drain(self) -> None:
        """Stop taking events, finish those queued, release leases and stop. (After
        ``aclose`` there is nothing left to finish: unfinished events stay in the inbox.)"""
        if not self._closing:
            self.pause()
            await self.join()
        await self.aclose()

    async def aclose(self) -> None:
        self._accepting = False
        self._closing = True
        for wakeup in self._wakeups.values():
            wakeup.set()
        pending = {*self._workers.values(), *self._background}
        for task in pending:
            task.cancel()
        # A cancellation can be lost inside a driver call (seen with PyMongo 4.20's async
        # cursors): ask again until every task has really ended.
        while pending:
            _, pending = await asyncio.wait(pending, timeout=0.5)
            for task in pending:
                task.cancel()
        self._workers.clear()
        self._background.clear()

    async def join(self) -> None:
        """Wait until every event this process queued has been processed (or handed over)."""
        async with self._settled:
            await self._settled.wait_for(lambda: not self._known)

    # ------------------------------------------------------------------ intake

    async def submit(self, event: Event) -> bool:
        """Record and queue ``event``; False if it was a duplicate. While draining, events
        are still recorded (nothing is lost) but left for another worker or the next start."""
        if not await self._inbox.put(event):
            log.info(
                "duplicate event dropped",
                extra={"agent_key": event.agent_key, "event_id": event.event_id},
            )
            return False
        if self._accepting:
            self._enqueue(event)
        return True

    async def submit_many(self, events: Sequence[Event]) -> list[bool]:
        """``submit`` for a batch (timers due together), recorded in one round trip."""
        new = await self._inbox.put_many(events)
        for event, fresh in zip(events, new, strict=True):
            if not fresh:
                log.info(
                    "duplicate event dropped",
                    extra={"agent_key": event.agent_key, "event_id": event.event_id},
                )
            elif self._accepting:
                self._enqueue(event)
        return new

    def pause(self) -> None:
        """Start draining: process only what is already queued here."""
        self._accepting = False

    async def submit_and_wait(self, event: Event) -> bool:
        """Queue ``event`` and wait until its turn has been processed (the console uses it)."""
        done = self.watch(event.event_id)
        try:
            if not await self.submit(event):
                return False
            await done
            return True
        finally:
            self._waiters.pop(event.event_id, None)

    def watch(self, event_id: str) -> asyncio.Future[None]:
        """A future that resolves once this process is done with ``event_id`` (processed, or
        left to the worker that owns its agent). Adapters show "typing" until then."""
        future = self._waiters.get(event_id)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self._waiters[event_id] = future
        return future

    async def poll_once(self) -> int:
        """Queue unfinished events from the inbox that this process does not know yet."""
        if not self._accepting:
            return 0
        found = 0
        now = asyncio.get_running_loop().time()
        for event in await self._inbox.pending():
            if event.event_id in self._known or self._elsewhere.get(event.agent_key, 0) > now:
                continue
            self._enqueue(event)
            found += 1
        return found

    # ------------------------------------------------------------------ workers

    def _enqueue(self, event: Event) -> None:
        if event.event_id in self._known or event.event_id in self._finished:
            return  # already queued or running here, or just finished
        key = event.agent_key
        self._known.add(event.event_id)
        self._queues.setdefault(key, deque()).append(event)
        self._wakeups.setdefault(key, asyncio.Event()).set()
        if key not in self._workers and self._accepting:
            task = asyncio.create_task(self._work(key), name=f"agent:{key}")
            self._workers[key] = task

    async def _work(self, key: str) -> None:
        queue = self._queues[key]
        wakeup = self._wakeups[key]
        try:
            if not await self._leases.acquire(key):
                # Another worker runs this agent; it will find these events in the inbox.
                retry_in = self._poll_interval * 5
                self._elsewhere[key] = asyncio.get_running_loop().time() + retry_in
                await self._drop_queue(key)
                return
            self._elsewhere.pop(key, None)
            self._forget(key)  # anything cached may be stale: reload on first use
            refill = True
            while not self._closing:
                if refill and self._leases.has_peers:
                    await self._refill_from_inbox(key)
                refill = False
                if not queue:
                    wakeup.clear()
                    try:
                        async with asyncio.timeout(self._idle):
                            await wakeup.wait()
                    except TimeoutError:
                        if not queue:
                            return
                    refill = True
                    continue
                if not self._leases.holds(key):
                    # Renewal may just be late (a busy loop or database): ask the database.
                    # Whatever ran meanwhile, the context is reloaded before the next turn.
                    self._forget(key)
                    if not await self._leases.acquire(key):
                        log.warning(
                            "lease lost; leaving the agent to its new owner",
                            extra={"agent_key": key},
                        )
                        await self._drop_queue(key)
                        return
                event = queue.popleft()
                processed = False
                try:
                    async with self._slots:
                        processed = await self._process(event)
                finally:
                    await self._finish(event, processed=processed)
        finally:
            if self._workers.get(key) is asyncio.current_task():
                del self._workers[key]
                self._forget(key)
                await self._drop_queue(key)
                await self._release(key)

    async def _refill_from_inbox(self, key: str) -> None:
        """With peers, the inbox decides the order: this agent's unfinished events, oldest
        first, replace what the local queue holds."""
        queue = self._queues[key]
        pending = [e for e in await self._inbox.pending(key) if e.event_id not in self._finished]
        wanted = {e.event_id for e in pending}
        for event in queue:
            if event.event_id not in wanted:  # finished meanwhile by someone else
                await self._finish(event)
        queue.clear()
        queue.extend(pending)
        self._known.update(wanted)

    async def _process(self, event: Event) -> bool:
        """Run the event's turn (with retries) and mark it done; False if it was left to
        another worker. An event that fails every attempt is kept in the inbox as failed
        (the person's export shows it) and handed to ``give_up``, which tells the person."""
        extra = {"agent_key": event.agent_key, "event_id": event.event_id}
        error: str | None = None
        exhausted = True
        for attempt in range(1, self._attempts + 1):
            try:
                await self._handle(event)  # a failure it handled is stored, told and logged
                error = None
                exhausted = False
                break
            except asyncio.CancelledError:
                raise
            except ConcurrentUpdateError as exc:
                log.warning("another worker took the agent (%s); leaving it", exc, extra=extra)
                self._forget(event.agent_key)
                return False
            except StorageError as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.warning("storage failed (attempt %d): %s", attempt, exc, extra=extra)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                if attempt == 1:
                    log.exception("event failed (attempt 1)", extra=extra)
                else:
                    log.warning("event failed again (attempt %d): %s", attempt, error, extra=extra)
            if attempt < self._attempts:
                await asyncio.sleep(self._retry_delay * attempt)
        if exhausted:
            log.error(
                "event failed %d times; kept in the inbox as failed: %s",
                self._attempts,
                error,
                extra=extra,
            )
            if self._give_up is not None:
                await self._give_up(event, error or "failed")
        try:
            await self._inbox.mark_done(event.event_id, error=error)
        except StorageError:
            log.exception("could not mark the event done; it will be replayed", extra=extra)
            return False
        return True

    # ------------------------------------------------------------------ helpers

    async def _finish(self, event: Event, *, processed: bool = False) -> None:
        """This process is done with ``event`` (processed, or left to another worker)."""
        if processed:
            now = asyncio.get_running_loop().time()
            self._finished[event.event_id] = now
            if len(self._finished) > 10_000 or next(iter(self._finished.values())) < now - 300:
                self._finished = {k: t for k, t in self._finished.items() if t > now - 300}
        waiter = self._waiters.pop(event.event_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        async with self._settled:
            self._known.discard(event.event_id)
            self._settled.notify_all()

    async def _drop_queue(self, key: str) -> None:
        queue = self._queues.get(key)
        while queue:
            await self._finish(queue.popleft())

    async def _release(self, key: str) -> None:
        try:
            await self._leases.release(key)
        except StorageError:
            log.warning("could not release the lease; it will expire", extra={"agent_key": key})

    def _lost(self, keys: list[str]) -> None:
        for key in keys:
            self._forget(key)
            wakeup = self._wakeups.get(key)
            if wakeup is not None:
                wakeup.set()

    async def _poll_forever(self) -> None:
        purge_every = max(1, int(PURGE_SECONDS / self._poll_interval))
        polls = 0
        while True:
            await asyncio.sleep(self._poll_interval)
            polls += 1
            try:
                await self.poll_once()
                if polls % purge_every == 0:
                    await self._inbox.purge(self._retention)
            except StorageError as exc:
                log.warning("inbox poll failed: %s", exc)

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
