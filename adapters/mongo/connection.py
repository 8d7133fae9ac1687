"""Connecting to MongoDB, and turning driver errors into the core's storage errors."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConfigurationError as DriverConfigurationError
from pymongo.errors import ConnectionFailure, PyMongoError, ServerSelectionTimeoutError
from pymongo.monitoring import CommandListener

from core.errors import ConfigurationError, StorageError, StorageUnavailableError

# user:password@ up to the last "@" before the hosts: an unescaped "@" in a password (the
# commonest mistake in a URI) must not leave half of it showing.
_CREDENTIALS = re.compile(
    r"^(?P<scheme>[a-z+]+://)(?P<user>[^:/?#@]*):(?P<password>.*)@(?P<rest>[^@]*)$", re.I
)


def redact(uri: str) -> str:
    """The URI with any password replaced, fit for logs and error messages."""
    found = _CREDENTIALS.match(uri)
    if found is None:
        return uri
    return f"{found['scheme']}{found['user']}:***@{found['rest']}"


def _password(uri: str) -> str | None:
    found = _CREDENTIALS.match(uri)
    return found["password"] if found and found["password"] else None


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
        # An operator's own socketTimeoutMS in the URI is kept.
        socket = (
            {}
            if "sockettimeoutms=" in uri.lower()
            else {"socketTimeoutMS": max(timeout_ms * 6, 30_000)}
        )
        try:
            self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
                uri,
                tz_aware=True,
                event_listeners=list(listeners),
                serverSelectionTimeoutMS=timeout_ms,
                connectTimeoutMS=timeout_ms,
                appname="pagemind",
                **socket,  # type: ignore[arg-type]
            )
        except (DriverConfigurationError, ValueError) as exc:
            reason = str(exc)
            password = _password(uri)
            if password:
                reason = reason.replace(password, "***")
            raise ConfigurationError(
                f"PAGEMIND_MONGODB_URI is not a valid MongoDB URI ({redact(uri)}): {reason}"
            ) from None
        self.db: AsyncDatabase[dict[str, Any]] = self.client[database]

    async def ping(self) -> None:
        with translated(self.uri):
            await self.client.admin.command("ping")

    async def aclose(self) -> None:
        await self.client.close()
