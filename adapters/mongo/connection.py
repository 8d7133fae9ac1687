"""Connecting to MongoDB, and turning driver errors into the core's storage errors."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, PyMongoError, ServerSelectionTimeoutError
from pymongo.monitoring import CommandListener

from core.errors import StorageError, StorageUnavailableError


def redact(uri: str) -> str:
    """The URI with any password replaced, fit for logs and error messages."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", uri)


@contextmanager
def translated(uri: str) -> Iterator[None]:
    """Map PyMongo's exceptions onto ``StorageError`` and its subclasses."""
    try:
        yield
    except (ServerSelectionTimeoutError, ConnectionFailure) as exc:
        raise StorageUnavailableError(f"MongoDB at {redact(uri)} is unreachable: {exc}") from exc
    except PyMongoError as exc:
        raise StorageError(f"MongoDB error: {exc}") from exc


class MongoConnection:
    """One client for the process, built in the composition root and closed on shutdown."""

    def __init__(
        self,
        uri: str,
        database: str,
        *,
        timeout_ms: int = 5000,
        listeners: Sequence[CommandListener] = (),
    ) -> None:
        self.uri = uri
        self.client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            uri,
            tz_aware=True,
            event_listeners=list(listeners),
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=max(timeout_ms * 6, 30_000),
            appname="pagemind",
        )
        self.db: AsyncDatabase[dict[str, object]] = self.client[database]

    async def ping(self) -> None:
        with translated(self.uri):
            await self.client.admin.command("ping")

    async def aclose(self) -> None:
        await self.client.close()
