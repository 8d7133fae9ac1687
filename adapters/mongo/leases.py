"""Agent leases across processes: one worker runs an agent at a time.

``leases`` holds ``{_id: agent_key, owner, epoch, expires, process, wake}``: the owning
worker, a count of take-overs, when the lease runs out (epoch seconds; some servers keep a
date written by ``$set`` as a string), the owner's process (``processes.ProcessIdentity``)
and its doorbell port. Acquiring reads the lease, then writes only what the read allows:
insert a new one, extend our own, or take over one that has expired or whose owner's process
is known to have died (a compare-and-swap on owner and epoch, so two takers cannot both
win). A background task renews every held lease in one ``update_many`` every sixth of the
TTL (the ``find`` that tells which were lost runs only when some were).

``workers`` holds one heartbeat per live worker (``{_id, expires, beats, process, wake}``),
written every third of the TTL: a worker knows from it whether it is alone on the database
(then it trusts its own queue) and which of its peers it can ring (``doorbell``). A new
worker waits at start until every live peer has renewed its heartbeat once more, so none
trusts its own queue while the newcomer already records events for its agents.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from adapters.mongo.connection import MongoConnection, translated
from adapters.mongo.doorbell import Doorbell
from adapters.mongo.processes import ProcessIdentity, is_running, reachable, this_process
from core.errors import StorageError
from core.ports import Clock
from core.ports.workers import LeaseHolder

log = logging.getLogger(__name__)

LEASES = "leases"
WORKERS = "workers"
EXPIRED = 0.0
FORGET_WORKERS_AFTER = 3600.0  # heartbeats of workers silent this long are deleted


@dataclass(frozen=True)
class Peer:
    """Another live worker, as its heartbeat shows it."""

    worker: str
    process: ProcessIdentity | None
    wake: int | None  # its doorbell port on 127.0.0.1
    beats: int

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Peer:
        wake = doc.get("wake")
        return cls(
            str(doc["_id"]),
            ProcessIdentity.from_doc(doc.get("process")),
            int(wake) if isinstance(wake, int) else None,
            int(doc.get("beats") or 0),
        )

    def ringable(self) -> bool:
        return self.wake is not None and reachable(self.process)


class MongoLeases:
    def __init__(
        self,
        connection: MongoConnection,
        clock: Clock,
        *,
        ttl: float = 15.0,
        worker_id: str | None = None,
        doorbell: Doorbell | None = None,
    ) -> None:
        self._uri = connection.uri
        self._leases = connection.db[LEASES]
        self._workers = connection.db[WORKERS]
        self._clock = clock
        self.ttl = timedelta(seconds=ttl)
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self.doorbell = doorbell or Doorbell()
        self._held: dict[str, float] = {}  # agent -> when our lease runs out (epoch s)
        self._peers: dict[str, Peer] = {}  # live peers, as of the last heartbeat
        self._holders: dict[str, dict[str, Any]] = {}  # agent -> lease doc of its holder
        self._poke: asyncio.Event | None = None
        self._beat_asked = False
        self._rearm = False
        self._purged = -math.inf

    # ------------------------------------------------------------------ peers

    @property
    def has_peers(self) -> bool:
        return bool(self._peers)

    def peers(self) -> list[Peer]:
        return list(self._peers.values())

    async def introduce(self) -> None:
        """Register this worker, then wait (at most one TTL) until every live peer has
        renewed its heartbeat once more, and so knows this one. Peers on this machine are
        asked to renew at once."""
        self.doorbell.listeners.beat = self._beat_requested
        await self.doorbell.open()
        await self.heartbeat()
        waiting = {peer.worker: peer.beats for peer in self._peers.values()}
        if not waiting:
            return
        for peer in self._peers.values():
            if peer.ringable():
                assert peer.wake is not None
                self.doorbell.ring_beat(peer.wake)
        log.info("waiting until %d other worker(s) have seen this one", len(waiting))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ttl.total_seconds()
        step = min(0.1, self.ttl.total_seconds() / 30)
        beat_every = self.ttl.total_seconds() / 3
        next_beat = loop.time() + beat_every
        while waiting and loop.time() < deadline:
            await asyncio.sleep(step)
            if self._beat_asked or loop.time() >= next_beat:
                # Beat as ``maintain`` will: a peer starting at the same moment waits
                # for this one too.
                self._beat_asked = False
                next_beat = loop.time() + beat_every
                await self.heartbeat()
            now = self._clock.now().timestamp()
            with translated(self._uri):
                found = {
                    d["_id"]: d async for d in self._workers.find({"_id": {"$in": list(waiting)}})
                }
            for worker, beats in list(waiting.items()):
                doc = found.get(worker)
                if (
                    doc is None
                    or float(doc.get("expires") or 0) < now
                    or int(doc.get("beats") or 0) > beats
                    or is_running(ProcessIdentity.from_doc(doc.get("process"))) is False
                ):
                    del waiting[worker]
        if waiting:
            log.warning(
                "%d other worker(s) did not renew their heartbeat within %.0f s: %s",
                len(waiting),
                self.ttl.total_seconds(),
                sorted(waiting),
            )

    async def heartbeat(self) -> bool:
        """Renew this worker's heartbeat and read the live peers'; True if a peer seen
        before has stopped or died since."""
        now = self._clock.now().timestamp()
        me = this_process()
        with translated(self._uri):
            await self._workers.update_one(
                {"_id": self.worker_id},
                {
                    "$set": {
                        "expires": now + self.ttl.total_seconds(),
                        "process": me.to_doc() if me else None,
                        "wake": self.doorbell.port,
                    },
                    "$inc": {"beats": 1},
                },
                upsert=True,
            )
            docs = self._workers.find(
                {"_id": {"$ne": self.worker_id}, "expires": {"$gt": now}},
                {"beats": 1, "process": 1, "wake": 1},
            )
            seen = [Peer.from_doc(d) async for d in docs]
            if now - self._purged > FORGET_WORKERS_AFTER:
                self._purged = now
                await self._workers.delete_many({"expires": {"$lt": now - FORGET_WORKERS_AFTER}})
        # A peer on this machine whose process has ended is not waited for.
        live = {p.worker: p for p in seen if is_running(p.process) is not False}
        gone = bool(set(self._peers) - set(live))
        self._peers = live
        return gone

    def _beat_requested(self) -> None:
        self._beat_asked = True
        if self._poke is not None:
            self._poke.set()

    # ------------------------------------------------------------------ leases

    async def acquire(self, agent_key: str) -> bool:
        """Take the agent's lease if it is free, ours, expired, or held by a process on this
        machine that has ended (see the module)."""
        now = self._clock.now().timestamp()
        expires = now + self.ttl.total_seconds()
        me = this_process()
        mine = {"process": me.to_doc() if me else None, "wake": self.doorbell.port}
        with translated(self._uri):
            doc = await self._leases.find_one({"_id": agent_key})
            if doc is None:
                try:
                    await self._leases.insert_one(
                        {"_id": agent_key, "owner": self.worker_id, "epoch": 1, "expires": expires}
                        | mine
                    )
                    return self._took(agent_key, expires)
                except DuplicateKeyError:
                    doc = await self._leases.find_one({"_id": agent_key})
                    if doc is None:
                        return False
            if doc.get("owner") == self.worker_id:
                renewed = await self._leases.find_one_and_update(
                    {"_id": agent_key, "owner": self.worker_id}, {"$set": {"expires": expires}}
                )
                if renewed is not None:
                    return self._took(agent_key, expires)
                doc = await self._leases.find_one({"_id": agent_key}) or doc
            else:
                ended = is_running(ProcessIdentity.from_doc(doc.get("process"))) is False
                if float(doc.get("expires") or 0) < now or ended:
                    taken = await self._leases.find_one_and_update(
                        {"_id": agent_key, "owner": doc.get("owner"), "epoch": doc.get("epoch")},
                        {"$set": {"owner": self.worker_id, "expires": expires} | mine,
                         "$inc": {"epoch": 1}},
                    )  # fmt: skip
                    if taken is not None:
                        if ended and float(doc.get("expires") or 0) >= now:
                            log.info(
                                "took over %s from %s, whose process has ended",
                                agent_key,
                                self._where(doc),
                                extra={"agent_key": agent_key},
                            )
                        return self._took(agent_key, expires)
                    doc = await self._leases.find_one({"_id": agent_key}) or doc
        self._holders[agent_key] = doc
        return False

    def _took(self, agent_key: str, expires: float) -> bool:
        if not self._held:
            self._rearm = True  # the renewal schedule starts now
            if self._poke is not None:
                self._poke.set()
        self._held[agent_key] = expires
        self._holders.pop(agent_key, None)
        return True

    def holder(self, agent_key: str) -> LeaseHolder | None:
        doc = self._holders.get(agent_key)
        if doc is None:
            return None
        process = ProcessIdentity.from_doc(doc.get("process"))
        left = float(doc.get("expires") or 0) - self._clock.now().timestamp()
        return LeaseHolder(
            worker=str(doc.get("owner")),
            where=self._where(doc),
            expires_in=max(0.0, left),
            running=is_running(process),
        )

    async def nudge(self, agent_key: str) -> None:
        """Ring the agent's holder (as the last failed ``acquire`` saw it, else as the
        database says) if it is on this machine; if nobody holds the agent, ring every
        worker on this machine, and one of them takes it. (A process that records events
        without running agents, such as ``pagemind ingest``, calls this after each.)"""
        now = self._clock.now().timestamp()
        doc = self._holders.get(agent_key)
        with translated(self._uri):
            if doc is None:
                doc = await self._leases.find_one({"_id": agent_key})
            if doc is not None and doc.get("owner") != self.worker_id:
                process = ProcessIdentity.from_doc(doc.get("process"))
                if float(doc.get("expires") or 0) >= now and is_running(process) is not False:
                    wake = doc.get("wake")
                    if isinstance(wake, int) and reachable(process):
                        self.doorbell.ring_agents(wake, [agent_key])
                    return
            found = self._workers.find(
                {"_id": {"$ne": self.worker_id}, "expires": {"$gt": now}},
                {"process": 1, "wake": 1, "beats": 1},
            )
            workers = [Peer.from_doc(d) async for d in found]
        for peer in workers:
            if peer.ringable():
                assert peer.wake is not None
                self.doorbell.ring_agents(peer.wake, [agent_key])

    @staticmethod
    def _where(doc: dict[str, Any]) -> str:
        process = ProcessIdentity.from_doc(doc.get("process"))
        return process.describe() if process else ""

    async def release(self, agent_key: str) -> None:
        if self._held.pop(agent_key, None) is None:
            return
        with translated(self._uri):
            await self._leases.update_one(
                {"_id": agent_key, "owner": self.worker_id}, {"$set": {"expires": EXPIRED}}
            )

    def holds(self, agent_key: str) -> bool:
        expires = self._held.get(agent_key)
        margin = self.ttl.total_seconds() / 3
        return expires is not None and expires - self._clock.now().timestamp() > margin

    async def renew_leases(self) -> list[str]:
        """Extend every held lease; return the leases lost."""
        held = list(self._held)
        if not held:
            return []
        expires = self._clock.now().timestamp() + self.ttl.total_seconds()
        with translated(self._uri):
            result = await self._leases.update_many(
                {"_id": {"$in": held}, "owner": self.worker_id}, {"$set": {"expires": expires}}
            )
            if result.matched_count >= len(held):
                still = set(held)
            else:
                found = self._leases.find(
                    {"_id": {"$in": held}, "owner": self.worker_id}, {"_id": 1}
                )
                still = {d["_id"] async for d in found}
        lost = [key for key in held if key not in still]
        for key in held:
            if key in still and key in self._held:
                self._held[key] = expires
        for key in lost:
            self._held.pop(key, None)
        return lost

    async def renew(self) -> list[str]:
        """Renew the heartbeat and every held lease; return the leases lost."""
        await self.heartbeat()
        return await self.renew_leases()

    async def maintain(
        self, on_lost: Callable[[list[str]], None], on_peer_gone: Callable[[], None]
    ) -> None:
        # A lease is used only while more than a third of its TTL is left (``holds``), so it
        # is usable for two thirds of the TTL after a renewal: renewing every sixth leaves
        # room for a slow renewal on a busy database (1,000 held leases, round trips of
        # hundreds of ms) before turns start to see their lease as lost. The heartbeat only
        # has to be seen within a TTL: every third.
        loop = asyncio.get_running_loop()
        self._poke = asyncio.Event()
        self.doorbell.listeners.gone = on_peer_gone
        renew_every = self.ttl.total_seconds() / 6
        beat_every = self.ttl.total_seconds() / 3
        next_renewal = loop.time() + renew_every
        next_beat = loop.time() + beat_every
        try:
            while True:
                self._poke.clear()
                now = loop.time()
                if self._rearm:
                    self._rearm = False
                    next_renewal = now + renew_every
                if self._held and now >= next_renewal:
                    next_renewal = now + renew_every
                    try:
                        lost = await self.renew_leases()
                        if lost:
                            log.warning("lost leases of %d agents: %s", len(lost), lost)
                            on_lost(lost)
                    except StorageError as exc:
                        log.warning("lease renewal failed: %s", exc)
                if now >= next_beat or self._beat_asked:
                    self._beat_asked = False
                    next_beat = now + beat_every
                    try:
                        if await self.heartbeat():
                            on_peer_gone()
                    except StorageError as exc:
                        log.warning("heartbeat failed: %s", exc)
                wake = min(next_beat, next_renewal if self._held else math.inf)
                if self._beat_asked:
                    continue
                try:
                    async with asyncio.timeout(max(0.0, wake - loop.time())):
                        await self._poke.wait()
                except TimeoutError:
                    pass
        finally:
            await self._retire()

    async def _retire(self) -> None:
        """Give back every lease and the heartbeat, so peers take over at once."""
        try:
            with translated(self._uri):
                if self._held:
                    await self._leases.update_many(
                        {"_id": {"$in": list(self._held)}, "owner": self.worker_id},
                        {"$set": {"expires": EXPIRED}},
                    )
                await self._workers.delete_one({"_id": self.worker_id})
        except StorageError as exc:
            log.warning("could not hand back leases on shutdown: %s", exc)
        self._held.clear()
        for peer in self._peers.values():
            if peer.ringable():
                assert peer.wake is not None
                self.doorbell.ring_gone(peer.wake)
        self.doorbell.close()
