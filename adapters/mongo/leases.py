"""Agent leases across processes: one worker runs an agent at a time.

``leases`` holds ``{_id: agent_key, owner, epoch, expires}``; ``expires`` is epoch seconds
(some servers keep a date written by ``$set`` as a string, so times that change are stored
as numbers). Acquiring is one atomic ``find_one_and_update`` that succeeds when the lease is
free, expired or already ours (the epoch counts take-overs); a background task renews every
held lease in one ``update_many`` every sixth of the TTL and reports any it no longer holds.
``workers`` holds one heartbeat per live process, so a worker knows whether it is alone on
the database; heartbeats silent for an hour are deleted.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from pymongo.errors import DuplicateKeyError

from adapters.mongo.connection import MongoConnection, translated
from core.errors import StorageError
from core.ports import Clock

log = logging.getLogger(__name__)

LEASES = "leases"
WORKERS = "workers"
EXPIRED = 0.0
FORGET_WORKERS_AFTER = 3600.0  # heartbeats of workers silent this long are deleted


class MongoLeases:
    def __init__(
        self,
        connection: MongoConnection,
        clock: Clock,
        *,
        ttl: float = 15.0,
        worker_id: str | None = None,
    ) -> None:
        self._uri = connection.uri
        self._leases = connection.db[LEASES]
        self._workers = connection.db[WORKERS]
        self._clock = clock
        self.ttl = timedelta(seconds=ttl)
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self._held: dict[str, datetime] = {}  # agent -> when our lease runs out
        self._peers = 0

    @property
    def has_peers(self) -> bool:
        return self._peers > 0

    async def acquire(self, agent_key: str) -> bool:
        """Take the agent's lease if it is ours already, expired, or new. (Three plain
        conditional writes rather than one with ``$or``: nx-27017 drops the ``_id``
        condition of a filter that also has ``$or``.)"""
        now = self._clock.now()
        expires = (now + self.ttl).timestamp()
        with translated(self._uri):
            renewed = await self._leases.find_one_and_update(
                {"_id": agent_key, "owner": self.worker_id},
                {"$set": {"expires": expires}},
            )
            if renewed is None:
                taken = await self._leases.find_one_and_update(
                    {"_id": agent_key, "expires": {"$lt": now.timestamp()}},
                    {"$set": {"owner": self.worker_id, "expires": expires}, "$inc": {"epoch": 1}},
                )
                if taken is None:
                    try:
                        await self._leases.insert_one(
                            {
                                "_id": agent_key,
                                "owner": self.worker_id,
                                "expires": expires,
                                "epoch": 1,
                            }
                        )
                    except DuplicateKeyError:
                        return False
        self._held[agent_key] = now + self.ttl
        return True

    async def release(self, agent_key: str) -> None:
        if self._held.pop(agent_key, None) is None:
            return
        with translated(self._uri):
            await self._leases.update_one(
                {"_id": agent_key, "owner": self.worker_id}, {"$set": {"expires": EXPIRED}}
            )

    def holds(self, agent_key: str) -> bool:
        expires = self._held.get(agent_key)
        margin = self.ttl / 3
        return expires is not None and expires - self._clock.now() > margin

    async def renew(self) -> list[str]:
        """Extend every held lease and the worker heartbeat; return the leases lost."""
        now = self._clock.now()
        expires = now + self.ttl
        held = list(self._held)
        with translated(self._uri):
            await self._workers.update_one(
                {"_id": self.worker_id}, {"$set": {"expires": expires.timestamp()}}, upsert=True
            )
            peers = self._workers.find(
                {"_id": {"$ne": self.worker_id}, "expires": {"$gt": now.timestamp()}}, {"_id": 1}
            )
            self._peers = len([p async for p in peers])
            await self._workers.delete_many(
                {"expires": {"$lt": now.timestamp() - FORGET_WORKERS_AFTER}}
            )
            if not held:
                return []
            await self._leases.update_many(
                {"_id": {"$in": held}, "owner": self.worker_id},
                {"$set": {"expires": expires.timestamp()}},
            )
            still = {
                d["_id"]
                async for d in self._leases.find(
                    {"_id": {"$in": held}, "owner": self.worker_id}, {"_id": 1}
                )
            }
        lost = [key for key in held if key not in still]
        for key in held:
            if key in still and key in self._held:
                self._held[key] = expires
        for key in lost:
            self._held.pop(key, None)
        return lost

    async def maintain(self, on_lost: Callable[[list[str]], None]) -> None:
        # A lease is used only while more than a third of its TTL is left (``holds``), so it
        # is usable for two thirds of the TTL after a renewal: renewing every sixth leaves
        # room for a slow renewal on a busy database (1,000 held leases, round trips of
        # hundreds of ms) before turns start to see their lease as lost.
        interval = self.ttl.total_seconds() / 6
        try:
            while True:
                started = asyncio.get_running_loop().time()
                try:
                    lost = await self.renew()
                    if lost:
                        log.warning("lost leases of %d agents: %s", len(lost), lost)
                        on_lost(lost)
                except StorageError as exc:
                    log.warning("lease renewal failed: %s", exc)
                elapsed = asyncio.get_running_loop().time() - started
                await asyncio.sleep(max(0.0, interval - elapsed))
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
