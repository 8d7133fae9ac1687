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

The dispatcher alone orders an agent's events: the runtime trusts it to hand it one event
per agent at a time, in order (``worker``: one task per agent with work, under its lease).

Redelivery, layer by layer: each layer catches a failure the others cannot.

1. The adapter's memory of ids seen lately (``core.recent``): a platform delivering the same
   update again to the same process (Slack retries an event not acknowledged within 3 s).
   It also covers what never reaches the inbox: commands, refusals, rate-limit answers.
2. The inbox (``Inbox.put``, by event id, kept ``inbox_retention_days``): the same event
   delivered to another replica, or again after a restart. The durable layer.
3. This process's queues (``queues``): one event reaching the local queue twice, from a
   local submit and an inbox read racing, or an inbox read issued before it was marked done.
4. The agent state's last event ids (``core.turn.admission``): an event handed over again
   after its turn was stored but before it was marked done (a crash, a lost lease, replicas
   handing events over out of order): it is never turned twice; an open chain resumes.
5. Replies (``core.turn.delivery``, the adapters' idempotency keys: Telegram's sent pieces,
   Discord's nonces): a replayed step is not sent again by the same process. A crash between
   sending a reply and marking its event done can still send it twice (milliseconds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any

from core.errors import StorageError
from core.events import Event
from core.inbound.attempts import GiveUp, Handler, TurnAttempts
from core.inbound.elsewhere import Elsewhere
from core.inbound.leases import NoSignals, SoleWorkerLeases
from core.inbound.polling import SAFETY_POLL_SECONDS, InboxPolling
from core.inbound.queues import LocalQueues
from core.inbound.waiting import Handover, Waiters
from core.inbound.worker import AgentWorker, Dispatch
from core.ports import Inbox, InboxSignals, Leases
from core.ports.workers import LeaseHolder
from core.tasks import BackgroundTasks

log = logging.getLogger(__name__)


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
        self._inbox = inbox
        self._leases: Leases = leases or SoleWorkerLeases()
        self._signals: InboxSignals = signals or NoSignals()
        forget = forget or (lambda agent_key: None)
        self._waiters = Waiters()
        self._local = LocalQueues(self._waiters)
        self._background = BackgroundTasks()
        self._polling = InboxPolling(
            inbox=inbox,
            signals=self._signals,
            poll=self.poll_once,
            interval=poll_interval,
            safety_interval=safety_poll_interval,
            retention=inbox_retention,
        )
        self._s = Dispatch(
            inbox=inbox,
            leases=self._leases,
            local=self._local,
            elsewhere=Elsewhere(lambda key: self._spawn(self._recheck(key), f"recheck:{key}")),
            attempts=TurnAttempts(
                handle,
                inbox=inbox,
                forget=forget,
                give_up=give_up,
                attempts=attempts,
                retry_delay=retry_delay,
            ),
            slots=asyncio.Semaphore(max_concurrent_turns),
            forget=forget,
            idle_seconds=idle_seconds,
            poll_interval=poll_interval,
            retry_delay=retry_delay,
        )
        self._closing = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> int:
        """Announce this worker to the others, queue what the inbox holds unfinished, then
        listen for other processes' events, poll the inbox and keep leases renewed."""
        await self._leases.introduce()
        recovered = await self.poll_once()
        self._spawn(self._polling.run(), "inbox-poller")
        self._spawn(self._leases.maintain(self._lost, self._peer_gone), "lease-renewal")
        self._spawn(self._signals.listen(self._arrived), "inbox-signals")
        return recovered

    async def drain(self) -> None:
        """A normal end (``/exit``): queue nothing more, finish what is queued here (events
        recovered at start included), release leases and stop."""
        if not self._closing:
            self._s.accepting = False
            await self.join()
        await self.aclose()

    async def aclose(self) -> None:
        """Stop at once: turns still running are cancelled (they resume from their last
        stored step wherever their agent runs next)."""
        workers = self._s.workers
        self._local.left += sum(1 for task in workers.values() if not task.done())
        self._s.accepting = self._s.starting = False
        self._closing = True
        self._s.elsewhere.cancel()
        self._local.wake_all()
        pending = set(workers.values())
        for task in pending:
            task.cancel()
        # A cancellation can be lost inside a driver call (seen with PyMongo 4.20's async
        # cursors): ask again until every task has really ended.
        while pending:
            _, pending = await asyncio.wait(pending, timeout=0.5)
            for task in pending:
                task.cancel()
        workers.clear()
        await self._background.aclose()

    def pause(self) -> None:
        """Start stopping: queue nothing more and start no new turn. Events accepted from
        now on are still recorded (nothing is lost) and left to another worker or the next
        start, as is everything queued and not started."""
        self._s.accepting = self._s.starting = False
        self._local.wake_all()

    @property
    def busy(self) -> bool:
        """Whether events are queued or under way here."""
        return self._local.busy

    @property
    def left(self) -> int:
        """Events left unfinished by ``pause`` or ``aclose`` (for another worker or the next
        start)."""
        return self._local.left

    async def join(self) -> None:
        """Wait until every event this process queued has been processed or handed over
        (while stopping: until the turns under way have ended)."""
        await self._local.join()

    # ------------------------------------------------------------------ intake

    async def submit(self, event: Event) -> bool:
        """Record and queue ``event``; False if it was a duplicate. While stopping, events
        are still recorded (nothing is lost) but left for another worker or the next start."""
        return (await self._queue_new([event], [await self._inbox.put(event)]))[0]

    async def submit_many(self, events: Sequence[Event]) -> list[bool]:
        """``submit`` for a batch (timers due together), recorded in one round trip."""
        return await self._queue_new(events, await self._inbox.put_many(events))

    async def _queue_new(self, events: Sequence[Event], new: list[bool]) -> list[bool]:
        for event, fresh in zip(events, new, strict=True):
            if not fresh:
                log.info(
                    "duplicate event dropped",
                    extra={"agent_key": event.agent_key, "event_id": event.event_id},
                )
            elif self._s.accepting:
                self._enqueue(event)
            else:
                self._local.leave(event)
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
            self.unwatch(event.event_id, done)

    def watch(self, event_id: str) -> asyncio.Future[Handover | None]:
        """A future that resolves once this process is done with ``event_id``: None when
        processed, a ``Handover`` when left to another worker or unfinished. Adapters show
        "typing" until then. Take it before submitting the event (its turn may end before
        ``submit`` returns); ``unwatch`` it if you will not wait for it."""
        return self._waiters.watch(event_id)

    def unwatch(self, event_id: str, future: asyncio.Future[Handover | None]) -> None:
        """Stop waiting for ``future`` (from ``watch``): a duplicate, or a waiter giving up.
        Others waiting for the same event keep it."""
        self._waiters.unwatch(event_id, future)

    async def poll_once(self) -> int:
        """Queue unfinished events from the inbox that this process does not know yet."""
        if not self._s.accepting:
            return 0
        found = 0
        now = asyncio.get_running_loop().time()
        for event in await self._inbox.pending():
            key = event.agent_key
            if self._local.knows(event.event_id) or self._s.elsewhere.waiting(key, now):
                continue
            self._s.foreign.add(key)
            self._enqueue(event)
            found += 1
        return found

    # ------------------------------------------------------------------ workers

    def _enqueue(self, event: Event) -> None:
        if not self._local.add(event):
            return  # already queued or running here, or just finished
        key = event.agent_key
        if key not in self._s.workers and self._s.accepting:
            worker = AgentWorker(key, self._s)
            self._s.workers[key] = asyncio.create_task(worker.run(), name=f"agent:{key}")

    async def _recheck(self, key: str) -> None:
        """Queue the agent's unfinished events again (its lease may be free by now)."""
        self._s.elsewhere.clear(key)
        if not self._s.accepting or key in self._s.workers:
            return
        try:
            events = await self._inbox.pending(key)
        except StorageError as exc:
            log.warning("inbox read failed: %s", exc, extra={"agent_key": key})
            self._s.elsewhere.look_again(key, self._s.poll_interval)
            return
        for event in events:
            self._enqueue(event)

    def _lost(self, keys: list[str]) -> None:
        for key in keys:
            self._s.forget(key)
            self._local.wake(key)

    def _arrived(self, agent_keys: Sequence[str], for_me: bool) -> None:
        """Other processes recorded events for these agents. A worker running one reads them
        before its next turn; one addressed to this process as the holder, with no worker
        (it has just stopped), is read at once."""
        for key in agent_keys:
            if key in self._s.workers:
                self._s.foreign.add(key)
                self._local.wake(key)
            elif for_me and self._s.accepting:
                self._s.elsewhere.look_again(key, 0.0)

    def _peer_gone(self) -> None:
        """Another worker stopped or died: what it left unfinished is ours to take."""
        if self._s.accepting:
            self._spawn(self._polling.poll_quietly(), "inbox-poll")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._background.spawn(coro, name=name)
