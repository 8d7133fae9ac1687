"""One agent's worker: runs its queued events one at a time, in order, while this process
holds the agent's lease; hands them to the lease's holder otherwise."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from core.errors import StorageError
from core.inbound.attempts import TurnAttempts
from core.inbound.elsewhere import Elsewhere
from core.inbound.queues import LocalQueues
from core.inbound.waiting import Handover
from core.ports import Inbox, Leases

log = logging.getLogger(__name__)


@dataclass
class Dispatch:
    """What the dispatcher's workers share."""

    inbox: Inbox
    leases: Leases
    local: LocalQueues
    elsewhere: Elsewhere
    attempts: TurnAttempts
    slots: asyncio.Semaphore
    forget: Callable[[str], None]
    idle_seconds: float
    poll_interval: float
    retry_delay: float
    accepting: bool = True  # new events are queued here
    starting: bool = True  # queued events are started
    foreign: set[str] = field(default_factory=set)  # agents with events recorded elsewhere
    workers: dict[str, asyncio.Task[None]] = field(default_factory=dict)


class AgentWorker:
    def __init__(self, key: str, shared: Dispatch) -> None:
        self.key = key
        self.s = shared

    async def run(self) -> None:
        s, key = self.s, self.key
        queue = s.local.queue(key)
        wakeup = s.local.wakeup(key)
        try:
            try:
                acquired = await s.leases.acquire(key)
            except StorageError as exc:
                log.warning("could not take the lease: %s", exc, extra={"agent_key": key})
                s.elsewhere.look_again(key, s.retry_delay)  # its events wait in the inbox
                await s.local.drop(key, Handover(None), stopping=not s.starting)
                return
            if not acquired:
                await self._leave_to_holder()
                return
            s.elsewhere.clear(key)
            s.forget(key)  # anything cached may be stale: reload on first use
            # The previous holder (a process that stopped or died) may have left events
            # older than those queued here: the first turn reads the inbox.
            s.foreign.add(key)
            while s.starting:
                if s.leases.has_peers or key in s.foreign:
                    s.foreign.discard(key)
                    try:
                        await s.local.refill(key, await s.inbox.pending(key))
                    except StorageError as exc:
                        log.warning("inbox read failed: %s", exc, extra={"agent_key": key})
                        s.foreign.add(key)
                        await asyncio.sleep(s.retry_delay)
                        continue
                if not queue:
                    if not s.accepting:
                        return  # draining: nothing more will come
                    wakeup.clear()
                    try:
                        async with asyncio.timeout(s.idle_seconds):
                            await wakeup.wait()
                    except TimeoutError:
                        if not queue and key not in s.foreign:
                            return
                    continue
                if not s.leases.holds(key):
                    # Renewal may just be late (a busy loop or database): ask the database.
                    # Whatever ran meanwhile, the context is reloaded before the next turn.
                    s.forget(key)
                    if not await s.leases.acquire(key):
                        log.warning(
                            "lease lost; leaving the agent to its new owner",
                            extra={"agent_key": key},
                        )
                        await self._leave_to_holder()
                        return
                    s.foreign.add(key)
                    continue
                event = queue.popleft()
                processed = False
                try:
                    async with s.slots:
                        processed = await s.attempts.run(event)
                finally:
                    await s.local.finish(event, processed=processed)
        finally:
            if s.workers.get(key) is asyncio.current_task():
                del s.workers[key]
                s.forget(key)
                await s.local.drop(key, None, stopping=not s.starting)
                await self._release()

    async def _leave_to_holder(self) -> None:
        """Another worker runs this agent: tell it events wait (it reads them from the
        inbox), and look again when its lease runs out, in case it has died."""
        s, key = self.s, self.key
        holder = s.leases.holder(key)
        try:
            await s.leases.nudge(key)
        except StorageError as exc:
            log.warning("could not reach the agent's worker: %s", exc, extra={"agent_key": key})
        delay = max(holder.expires_in if holder else 0.0, s.poll_interval)
        s.elsewhere.look_again(key, delay)
        await s.local.drop(key, Handover(holder), stopping=not s.starting)

    async def _release(self) -> None:
        try:
            await self.s.leases.release(self.key)
        except StorageError:
            log.warning(
                "could not release the lease; it will expire", extra={"agent_key": self.key}
            )
