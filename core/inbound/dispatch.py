"""Per-agent ordering: events for one agent run one at a time, in the order they were
accepted, whichever process accepted them.

Every event is recorded in the inbox before it is queued (a duplicate id is dropped there;
platform adapters acknowledge an event only once it is recorded) and marked done only after
its turn is stored. Each agent with work gets a worker task; a semaphore bounds how many
turns run at once. A worker runs an agent only while it holds the agent's lease, so two
processes sharing a database never run the same agent at once.

Where events come from: ``submit`` (this process accepted them); signals from other
processes (``InboxSignals``: "events wait for agents you run"), after which the worker reads
them from the inbox; and a poller that reads the whole inbox, often when some live worker
cannot signal this one, otherwise rarely, as a safety net (and at start, for what a crash
left unfinished).

Order: while other live workers share the database, after events recorded elsewhere turned
up, and before its first turn with a newly taken lease, a worker reads the agent's
unfinished events from the inbox (oldest first) before a turn and takes the oldest, so an
event accepted by another process before one accepted here is processed first. Alone, it
trusts its own queue and saves that read.

Stopping (``pause``): no new event is queued and no new turn starts; the turns under way
finish (``join``), or are cancelled (``aclose``). What was left stays unfinished in the inbox
for another worker or the next start; ``left`` counts it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from core.errors import ConcurrentUpdateError, StorageError
from core.events import Event
from core.inbound.leases import NoSignals, SoleWorkerLeases
from core.ports import Inbox, InboxSignals, Leases
from core.ports.workers import LeaseHolder

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[object]]
GiveUp = Callable[[Event, str], Awaitable[None]]
PURGE_SECONDS = 3600.0  # how often finished events past their retention are deleted
SAFETY_POLL_SECONDS = 30.0  # how often the inbox is read when every worker can signal


@dataclass(frozen=True)
class Handover:
    """An event this process left to another worker (``holder``), or unfinished in the
    inbox (``holder`` None: shutting down, or the lease was lost)."""

    holder: LeaseHolder | None


class AgentDispatcher:
    def __init__(
        self,
        handle: Handler,
        *,
        inbox: Inbox,
        leases: Leases | None = None,
        signals: InboxSignals | None = None,
        forget: Callable[[str], None] | None = None,
        give_up: GiveUp | None = None,
        max_concurrent_turns: int = 8,
        idle_seconds: float = 300.0,
        poll_interval: float = 2.0,
        safety_poll_interval: float = SAFETY_POLL_SECONDS,
        attempts: int = 3,
        retry_delay: float = 1.0,
        inbox_retention: timedelta = timedelta(days=7),
    ) -> None:
        self._handle = handle
        self._inbox = inbox
        self._leases: Leases = leases or SoleWorkerLeases()
        self._signals: InboxSignals = signals or NoSignals()
        self._forget = forget or (lambda agent_key: None)
        self._give_up = give_up
        self._slots = asyncio.Semaphore(max_concurrent_turns)
        self._idle = idle_seconds
        self._poll_interval = poll_interval
        self._safety_interval = max(poll_interval, safety_poll_interval)
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
        self._waiters: dict[str, asyncio.Future[Handover | None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._settled = asyncio.Condition()
        self._elsewhere: dict[str, float] = {}  # agent -> loop time to look at it again
        self._rechecks: dict[str, asyncio.TimerHandle] = {}
        self._foreign: set[str] = set()  # agents with events recorded by other processes
        self._accepting = True  # new events are queued here
        self._starting = True  # queued events are started
        self._closing = False
        self.left = 0  # events left unfinished by ``pause`` or ``aclose``

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> int:
        """Announce this worker to the others, queue what the inbox holds unfinished, then
        listen for other processes' events, poll the inbox and keep leases renewed."""
        await self._leases.introduce()
        recovered = await self.poll_once()
        self._spawn(self._poll_forever(), "inbox-poller")
        self._spawn(self._leases.maintain(self._lost, self._peer_gone), "lease-renewal")
        self._spawn(self._signals.listen(self._arrived), "inbox-signals")
        return recovered

    async def drain(self) -> None:
        """A normal end (``/exit``): queue nothing more, finish what is queued here (events
        recovered at start included), release leases and stop."""
        if not self._closing:
            self._accepting = False
            await self.join()
        await self.aclose()

    async def aclose(self) -> None:
        """Stop at once: turns still running are cancelled (they resume from their last
        stored step wherever their agent runs next)."""
        self.left += sum(1 for task in self._workers.values() if not task.done())
        self._accepting = self._starting = False
        self._closing = True
        for handle in self._rechecks.values():
            handle.cancel()
        self._rechecks.clear()
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

    def pause(self) -> None:
        """Start stopping: queue nothing more and start no new turn. Events accepted from
        now on are still recorded (nothing is lost) and left to another worker or the next
        start, as is everything queued and not started."""
        self._accepting = self._starting = False
        for wakeup in self._wakeups.values():
            wakeup.set()

    @property
    def busy(self) -> bool:
        """Whether events are queued or under way here."""
        return bool(self._known)

    async def join(self) -> None:
        """Wait until every event this process queued has been processed or handed over
        (while stopping: until the turns under way have ended)."""
        async with self._settled:
            await self._settled.wait_for(lambda: not self._known)

    # ------------------------------------------------------------------ intake

    async def submit(self, event: Event) -> bool:
        """Record and queue ``event``; False if it was a duplicate. While stopping, events
        are still recorded (nothing is lost) but left for another worker or the next start."""
        if not await self._inbox.put(event):
            log.info(
                "duplicate event dropped",
                extra={"agent_key": event.agent_key, "event_id": event.event_id},
            )
            return False
        if self._accepting:
            self._enqueue(event)
        else:
            self._left_one(event)
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
            else:
                self._left_one(event)
        return new

    async def submit_and_wait(
        self, event: Event, on_wait: Callable[[LeaseHolder], None] | None = None
    ) -> bool:
        """Queue ``event`` and wait until its turn has been processed, here or by the worker
        that runs its agent (then ``on_wait`` is told who that is, while waiting). Returns
        False for a duplicate; True once processed, or left unfinished while stopping."""
        done = self.watch(event.event_id)
        try:
            if not await self.submit(event):
                return False
            while True:
                outcome = await done
                if outcome is None or outcome.holder is None:
                    return True
                if on_wait is not None:
                    on_wait(outcome.holder)
                done = self.watch(event.event_id)
                while not done.done():  # processed there, or taken over and run here
                    if not await self._inbox.is_pending(event.event_id):
                        return True
                    await asyncio.wait({done}, timeout=1.0)
        finally:
            self._waiters.pop(event.event_id, None)

    def watch(self, event_id: str) -> asyncio.Future[Handover | None]:
        """A future that resolves once this process is done with ``event_id``: None when
        processed, a ``Handover`` when left to another worker or unfinished. Adapters show
        "typing" until then."""
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
            self._foreign.add(event.agent_key)
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
            try:
                acquired = await self._leases.acquire(key)
            except StorageError as exc:
                log.warning("could not take the lease: %s", exc, extra={"agent_key": key})
                self._look_again(key, self._retry_delay)  # its events wait in the inbox
                await self._drop_queue(key, Handover(None))
                return
            if not acquired:
                await self._leave_to_holder(key)
                return
            self._elsewhere.pop(key, None)
            self._forget(key)  # anything cached may be stale: reload on first use
            # The previous holder (a process that stopped or died) may have left events
            # older than those queued here: the first turn reads the inbox.
            self._foreign.add(key)
            while self._starting:
                if self._leases.has_peers or key in self._foreign:
                    self._foreign.discard(key)
                    try:
                        await self._refill_from_inbox(key)
                    except StorageError as exc:
                        log.warning("inbox read failed: %s", exc, extra={"agent_key": key})
                        self._foreign.add(key)
                        await asyncio.sleep(self._retry_delay)
                        continue
                if not queue:
                    if not self._accepting:
                        return  # draining: nothing more will come
                    wakeup.clear()
                    try:
                        async with asyncio.timeout(self._idle):
                            await wakeup.wait()
                    except TimeoutError:
                        if not queue and key not in self._foreign:
                            return
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
                        await self._leave_to_holder(key)
                        return
                    self._foreign.add(key)
                    continue
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

    async def _leave_to_holder(self, key: str) -> None:
        """Another worker runs this agent: tell it events wait (it reads them from the
        inbox), and look again when its lease runs out, in case it has died."""
        holder = self._leases.holder(key)
        try:
            await self._leases.nudge(key)
        except StorageError as exc:
            log.warning("could not reach the agent's worker: %s", exc, extra={"agent_key": key})
        delay = max(holder.expires_in if holder else 0.0, self._poll_interval)
        self._look_again(key, delay)
        await self._drop_queue(key, Handover(holder))

    def _look_again(self, key: str, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._elsewhere[key] = loop.time() + delay
        previous = self._rechecks.pop(key, None)
        if previous is not None:
            previous.cancel()

        def recheck() -> None:
            self._rechecks.pop(key, None)
            self._spawn(self._recheck(key), f"recheck:{key}")

        self._rechecks[key] = loop.call_later(delay + 0.05, recheck)

    async def _recheck(self, key: str) -> None:
        """Queue the agent's unfinished events again (its lease may be free by now)."""
        self._elsewhere.pop(key, None)
        if not self._accepting or key in self._workers:
            return
        try:
            events = await self._inbox.pending(key)
        except StorageError as exc:
            log.warning("inbox read failed: %s", exc, extra={"agent_key": key})
            self._look_again(key, self._poll_interval)
            return
        for event in events:
            self._enqueue(event)

    async def _refill_from_inbox(self, key: str) -> None:
        """The inbox decides the order: this agent's unfinished events, oldest first,
        replace what the local queue holds."""
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

    async def _finish(
        self, event: Event, *, processed: bool = False, handover: Handover | None = None
    ) -> None:
        """This process is done with ``event`` (processed, or left to another worker)."""
        if processed:
            now = asyncio.get_running_loop().time()
            self._finished[event.event_id] = now
            if len(self._finished) > 10_000 or next(iter(self._finished.values())) < now - 300:
                self._finished = {k: t for k, t in self._finished.items() if t > now - 300}
        waiter = self._waiters.pop(event.event_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(handover)
        async with self._settled:
            self._known.discard(event.event_id)
            self._settled.notify_all()

    async def _drop_queue(self, key: str, handover: Handover | None = None) -> None:
        queue = self._queues.get(key)
        while queue:
            event = queue.popleft()
            if handover is None and not self._starting:
                self._left_one(event)
                await self._finish(event, handover=Handover(None))
            else:
                await self._finish(event, handover=handover)

    def _left_one(self, event: Event) -> None:
        self.left += 1
        waiter = self._waiters.get(event.event_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(Handover(None))

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

    def _arrived(self, agent_keys: Sequence[str], for_me: bool) -> None:
        """Other processes recorded events for these agents. A worker running one reads them
        before its next turn; one addressed to this process as the holder, with no worker
        (it has just stopped), is read at once."""
        for key in agent_keys:
            wakeup = self._wakeups.get(key)
            if key in self._workers and wakeup is not None:
                self._foreign.add(key)
                wakeup.set()
            elif for_me and self._accepting:
                self._look_again(key, 0.0)

    def _peer_gone(self) -> None:
        """Another worker stopped or died: what it left unfinished is ours to take."""
        if self._accepting:
            self._spawn(self._poll_quietly(), "inbox-poll")

    async def _poll_quietly(self) -> None:
        try:
            await self.poll_once()
        except StorageError as exc:
            log.warning("inbox poll failed: %s", exc)

    async def _poll_forever(self) -> None:
        loop = asyncio.get_running_loop()
        purged = loop.time()
        while True:
            fast = not self._signals.complete()
            await asyncio.sleep(self._poll_interval if fast else self._safety_interval)
            await self._poll_quietly()
            if loop.time() - purged >= PURGE_SECONDS:
                purged = loop.time()
                try:
                    await self._inbox.purge(self._retention)
                except StorageError as exc:
                    log.warning("inbox purge failed: %s", exc)

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
