"""Backends for the contract suites: in memory, nx-27017 (always) and a real MongoDB (when
``PAGEMIND_TEST_MONGODB_URI`` is set). Each test gets an empty database."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from adapters.inmemory import (
    InMemoryAgentStore,
    InMemoryArchivalStore,
    InMemoryCheckinStore,
    InMemoryInbox,
    InMemoryRecallStore,
)
from adapters.mongo.agents import MongoAgentStore
from adapters.mongo.archival import MongoArchivalStore
from adapters.mongo.checkins import MongoCheckinStore
from adapters.mongo.connection import MongoConnection
from adapters.mongo.inbox import MongoInbox
from adapters.mongo.recall import MongoRecallStore
from adapters.mongo.schema import ensure_indexes
from tests.support.agents import ManualClock
from tests.support.mongo import REAL_MONGODB_ENV

BACKENDS = ["memory", "nx-27017"] + (["mongodb"] if os.environ.get(REAL_MONGODB_ENV) else [])
SERVERS = BACKENDS[1:]


@pytest.fixture(params=SERVERS)
async def connection(request: pytest.FixtureRequest) -> AsyncIterator[MongoConnection]:
    """An empty database on each MongoDB server (for contracts only MongoDB has)."""
    uri = (
        request.getfixturevalue("nx_uri")
        if request.param == "nx-27017"
        else os.environ[REAL_MONGODB_ENV]
    )
    conn = MongoConnection(uri, f"contract_{uuid.uuid4().hex[:12]}")
    await ensure_indexes(conn)
    yield conn
    await conn.client.drop_database(conn.db.name)
    await conn.aclose()


@dataclass
class Stores:
    backend: str
    agents: Any
    recall: Any
    archival: Any
    inbox: Any
    checkins: Any
    clock: ManualClock
    connection: MongoConnection | None = None


@pytest.fixture(params=BACKENDS)
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[Stores]:
    clock = ManualClock()
    if request.param == "memory":
        yield Stores(
            "memory",
            InMemoryAgentStore(),
            InMemoryRecallStore(),
            InMemoryArchivalStore(),
            InMemoryInbox(),
            InMemoryCheckinStore(),
            clock,
        )
        return
    uri = (
        request.getfixturevalue("nx_uri")
        if request.param == "nx-27017"
        else os.environ[REAL_MONGODB_ENV]
    )
    connection = MongoConnection(uri, f"contract_{uuid.uuid4().hex[:12]}")
    await ensure_indexes(connection)
    try:
        yield Stores(
            request.param,
            MongoAgentStore(connection),
            MongoRecallStore(connection),
            MongoArchivalStore(connection),
            MongoInbox(connection, clock),
            MongoCheckinStore(connection),
            clock,
            connection,
        )
    finally:
        await connection.client.drop_database(connection.db.name)
        await connection.aclose()
