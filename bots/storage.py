"""Choosing and opening the stores: MongoDB (a given URI or the embedded nx-27017), or memory.

Part of the composition root: the only place the concrete stores are named. Tests and
benchmarks get them here too (``memory_storage``, ``mongo_storage`` on a ``connect``-ed
database), never by importing ``adapters``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from pymongo.monitoring import CommandListener

from adapters.inmemory import (
    InMemoryAgentStore,
    InMemoryArchivalStore,
    InMemoryCheckinStore,
    InMemoryInbox,
    InMemoryRecallStore,
)
from adapters.inmemory.memory_edits import InMemoryMemoryEditStore
from adapters.inmemory.operator import (
    InMemoryAgentDirectory,
    InMemoryApiKeyStore,
    InMemoryAuditLog,
    InMemoryUploadJobStore,
)
from adapters.inmemory.traces import InMemorySystemTexts
from adapters.mongo.agents import MongoAgentStore
from adapters.mongo.api_keys import MongoApiKeyStore
from adapters.mongo.archival import MongoArchivalStore
from adapters.mongo.audit import MongoAuditLog
from adapters.mongo.checkins import MongoCheckinStore
from adapters.mongo.connection import MongoConnection, redact
from adapters.mongo.directory import MongoAgentDirectory
from adapters.mongo.doorbell import Doorbell
from adapters.mongo.embedded import EmbeddedMongo
from adapters.mongo.inbox import MongoInbox
from adapters.mongo.leases import MongoLeases
from adapters.mongo.memory_edits import MongoMemoryEditStore
from adapters.mongo.recall import MongoRecallStore
from adapters.mongo.schema import ensure_indexes, migrate
from adapters.mongo.signals import MongoInboxSignals, has_change_streams
from adapters.mongo.system_texts import MongoSystemTexts
from adapters.mongo.upload_jobs import MongoUploadJobStore
from config.settings import Settings
from core.inbound.leases import NoSignals, SoleWorkerLeases
from core.operator.ports import (
    AgentDirectoryStore,
    ApiKeyStore,
    AuditLog,
    MemoryEditStore,
    UploadJobStore,
)
from core.ports import (
    AgentStore,
    ArchivalStore,
    CheckinStore,
    Clock,
    IdSource,
    Inbox,
    InboxSignals,
    Leases,
    RecallStore,
    SystemTexts,
)

log = logging.getLogger(__name__)


@dataclass
class Storage:
    agents: AgentStore
    recall: RecallStore
    archival: ArchivalStore
    inbox: Inbox
    leases: Leases
    checkins: CheckinStore
    description: str
    signals: InboxSignals
    # the operator API's stores (in memory: gone with the process, keys included)
    api_keys: ApiKeyStore = field(default_factory=InMemoryApiKeyStore)
    audit: AuditLog = field(default_factory=InMemoryAuditLog)
    upload_jobs: UploadJobStore = field(default_factory=InMemoryUploadJobStore)
    directory: AgentDirectoryStore | None = None  # agents in key order (the API lists them)
    # each distinct system text once, by hash (turn traces name it)
    system_texts: SystemTexts = field(default_factory=InMemorySystemTexts)
    memory_edits: MemoryEditStore = field(default_factory=InMemoryMemoryEditStore)


def memory_storage() -> Storage:
    """Every store in this process's memory (gone on exit); one worker, no signals."""
    agents = InMemoryAgentStore()
    return Storage(
        agents,
        InMemoryRecallStore(),
        InMemoryArchivalStore(),
        InMemoryInbox(),
        SoleWorkerLeases(),
        InMemoryCheckinStore(),
        "in memory (nothing is kept after exit)",
        NoSignals(),
        directory=InMemoryAgentDirectory(agents),
    )


def connect(
    uri: str, database: str, *, listeners: Sequence[CommandListener] = ()
) -> MongoConnection:
    """A client for one database (nothing is sent until it is used; ``aclose`` it).
    ``listeners``: PyMongo command listeners (benchmarks count round trips)."""
    return MongoConnection(uri, database, listeners=listeners)


async def prepare(connection: MongoConnection, clock: Clock) -> None:
    """Indexes created where missing, then migrations run (once, under a lock)."""
    await ensure_indexes(connection)
    await migrate(connection, clock)


def mongo_storage(
    connection: MongoConnection,
    clock: Clock,
    *,
    worker_id: str,
    lease_ttl: float = 15.0,
    change_streams: bool = False,
    where: str = "MongoDB",
) -> Storage:
    """Every store on one (prepared) MongoDB database, for the worker ``worker_id``."""
    leases = MongoLeases(connection, clock, ttl=lease_ttl, worker_id=worker_id, doorbell=Doorbell())
    return Storage(
        MongoAgentStore(connection),
        MongoRecallStore(connection),
        MongoArchivalStore(connection),
        MongoInbox(connection, clock, worker_id=worker_id),
        leases,
        MongoCheckinStore(connection),
        where,
        MongoInboxSignals(connection, leases, change_streams=change_streams),
        MongoApiKeyStore(connection),
        MongoAuditLog(connection),
        MongoUploadJobStore(connection),
        MongoAgentDirectory(connection),
        MongoSystemTexts(connection),
        MongoMemoryEditStore(connection),
    )


async def open_storage(
    settings: Settings, clock: Clock, stack: AsyncExitStack, ids: IdSource
) -> Storage:
    """Open the configured stores; everything opened is closed when ``stack`` unwinds."""
    if settings.storage == "memory":
        return memory_storage()
    if settings.mongodb_uri is not None:
        uri = settings.mongodb_uri.get_secret_value()
        where = f"MongoDB at {redact(uri)}"
    else:
        embedded = EmbeddedMongo(settings.data_dir / "mongo")
        uri = await embedded.start()
        stack.push_async_callback(embedded.stop)
        where = f"the embedded database in {settings.data_dir / 'mongo'}"
    connection = connect(uri, settings.mongodb_database)
    stack.push_async_callback(connection.aclose)
    await connection.ping()
    await prepare(connection, clock)
    streams = settings.mongodb_uri is not None and await has_change_streams(connection)
    storage = mongo_storage(
        connection,
        clock,
        worker_id=settings.worker_name or f"worker-{ids.new_id()[:12]}",
        lease_ttl=settings.lease_ttl,
        change_streams=streams,
        where=where,
    )
    assert isinstance(storage.signals, MongoInboxSignals)
    log.info(
        "storage: %s, database %r; other processes' events arrive by %s",
        where,
        settings.mongodb_database,
        storage.signals.mode,
    )
    return storage
