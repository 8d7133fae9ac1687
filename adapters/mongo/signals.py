"""How a worker hears of events other processes recorded, without polling the inbox.

* From processes on the same machine: their doorbell datagram, addressed to the holder of
  the agent (``doorbell``; no database command).
* From processes elsewhere, where the server has change streams (a replica set or a sharded
  cluster; not a standalone ``mongod``, not nx-27017, which accepts ``watch`` but answers
  every ``getMore`` at once, a busy loop): one change stream on the inbox, filtered on the
  server to other workers' inserts, each ``getMore`` waiting up to ``max_await`` seconds.

``complete`` is False while some live worker can reach this one neither way (another
machine, no change streams, or a stream that failed): the dispatcher then reads the inbox
every ``PAGEMIND_INBOX_POLL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from pymongo.errors import PyMongoError

from adapters.mongo.connection import MongoConnection
from adapters.mongo.inbox import INBOX
from adapters.mongo.leases import MongoLeases

log = logging.getLogger(__name__)

Arrived = Callable[[Sequence[str], bool], None]
MAX_RETRY_SECONDS = 300.0  # the longest wait before opening a failed change stream again


async def has_change_streams(connection: MongoConnection) -> bool:
    """Whether the server offers change streams: a replica set member or a mongos."""
    try:
        hello: dict[str, Any] = await connection.client.admin.command("hello")
    except PyMongoError:
        return False
    return bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"


class MongoInboxSignals:
    def __init__(
        self,
        connection: MongoConnection,
        leases: MongoLeases,
        *,
        change_streams: bool,
        max_await: float = 10.0,
        retry_after: float = 5.0,
    ) -> None:
        self._inbox = connection.db[INBOX]
        self._leases = leases
        self._change_streams = change_streams
        self._max_await = max_await
        self._retry_after = retry_after
        self._streaming = False

    @property
    def mode(self) -> str:
        """For the start-up log line."""
        return "change streams and the doorbell" if self._change_streams else "the doorbell"

    @property
    def streaming(self) -> bool:
        """Whether the change stream is open."""
        return self._streaming

    def complete(self) -> bool:
        if self._streaming:
            return True
        return all(peer.ringable() for peer in self._leases.peers())

    async def listen(self, arrived: Arrived) -> None:
        self._leases.doorbell.listeners.agents = lambda keys: arrived(keys, True)
        if not self._change_streams:
            await asyncio.Event().wait()
        pipeline: list[dict[str, Any]] = [
            {
                "$match": {
                    "operationType": "insert",
                    "fullDocument.by": {"$ne": self._leases.worker_id},
                }
            },
            {"$project": {"fullDocument.agent": 1}},
        ]
        delay, warned = self._retry_after, False
        while True:
            try:
                stream = await self._inbox.watch(
                    pipeline, max_await_time_ms=int(self._max_await * 1000)
                )
                async with stream:
                    self._streaming = True
                    if warned:
                        log.info("the inbox change stream is back")
                    delay, warned = self._retry_after, False
                    async for change in stream:
                        agent = (change.get("fullDocument") or {}).get("agent")
                        if isinstance(agent, str):
                            arrived([agent], False)
            except PyMongoError as exc:
                if not warned:  # one line per outage, not one per retry
                    log.warning(
                        "the inbox change stream failed (%s); reading the inbox every "
                        "PAGEMIND_INBOX_POLL_SECONDS until it is back",
                        exc,
                    )
                    warned = True
            finally:
                self._streaming = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)
