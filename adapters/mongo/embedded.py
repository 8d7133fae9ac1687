"""The embedded default database: nx-27017, a MongoDB wire-protocol server over SQLite,
shared by every Pagemind process on one machine that uses the same data directory.

The first process to need it starts it (``adapters.mongo.nx_keeper``) on a free loopback port
and records where it is in ``server.json``; the others join it. The server is tied to no
process: it runs while any Pagemind process uses the directory and stops by itself once the
last one has gone, whether it exited or was killed (see ``nx_keeper`` for the two lock files
that make this exact). Joining and starting happen under ``start.lock``, so two processes
starting at the same moment end up on one server, and a ``server.json`` is believed only if
the process it names is still the one running (same pid and start time, same boot), so a
stale file never misleads a newcomer.

If the server itself dies (``kill -9``, a crash), every process using it notices within a
second and one of them starts it again on the same port: the others' drivers reconnect to
the same address, and acknowledged writes are in the SQLite files (nx-27017 commits each).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from adapters.mongo.nx_keeper import SERVER_INFO, START_LOCK, USERS_LOCK
from adapters.mongo.processes import ProcessIdentity, identity_of, is_running
from core.errors import StorageUnavailableError

log = logging.getLogger(__name__)

LOG_FILE = "nx-27017.log"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _listening(port: int) -> bool:
    """Whether something accepts connections on the port (cheaper than a driver ping)."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def answers(uri: str, timeout_ms: int = 500) -> bool:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        await client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        await client.close()


@dataclass(frozen=True)
class ServerInfo:
    """What ``server.json`` says: where the server listens and which process it is."""

    port: int
    process: ProcessIdentity | None
    pid: int

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def running(self) -> bool:
        """Whether the process that ``server.json`` names still runs (it is not a pid
        reused by another process)."""
        known = is_running(self.process)
        if known is not None:
            return known
        try:  # /proc cannot tell (another system): the pid exists, at least
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True

    def to_json(self) -> str:
        process: dict[str, Any] = self.process.to_doc() if self.process else {"pid": self.pid}
        return json.dumps({"uri": self.uri, "port": self.port, "process": process})

    @classmethod
    def read(cls, path: Path) -> ServerInfo | None:
        try:
            doc = json.loads(path.read_text())
            port = int(doc.get("port") or str(doc["uri"]).rsplit(":", 1)[-1])
            process = doc.get("process") or {"pid": doc["pid"]}
            return cls(port, ProcessIdentity.from_doc(process), int(process["pid"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None


class EmbeddedMongo:
    """Joins the nx-27017 server of a data directory, starting it if none runs, and keeps it
    running (restarting it on the same port if it dies) until ``stop``."""

    def __init__(
        self, data_dir: Path, *, start_timeout: float = 30.0, check_every: float = 1.0
    ) -> None:
        self.data_dir = data_dir
        self.start_timeout = start_timeout
        self.check_every = check_every
        self.uri = ""
        self.server: ServerInfo | None = None
        self._children: set[int] = set()  # servers this process started
        self._users: IO[str] | None = None
        self._guard: asyncio.Task[None] | None = None

    @property
    def _info_file(self) -> Path:
        return self.data_dir / SERVER_INFO

    @property
    def _log_file(self) -> Path:
        return self.data_dir / LOG_FILE

    async def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        users = (self.data_dir / USERS_LOCK).open("a+")
        try:
            async with self._starting():
                # Shared for as long as this process uses the server: the server stops only
                # once no process holds it (see nx_keeper).
                await self._flock(users, fcntl.LOCK_SH, "use")
                self.server = await self._join_or_start(None)
        except BaseException:
            users.close()
            raise
        self._users = users
        self.uri = self.server.uri
        self._guard = asyncio.create_task(self._keep_running(), name="embedded-database-guard")
        return self.uri

    async def stop(self) -> None:
        """Stop using the server. The last process to stop leaves it to stop by itself."""
        guard, self._guard = self._guard, None
        if guard is not None:
            guard.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await guard
        users, self._users = self._users, None
        if users is not None:
            users.close()  # releases this process's share of users.lock
        self._reap()

    # ------------------------------------------------------------------ joining, starting

    async def _join_or_start(self, port: int | None) -> ServerInfo:
        """Under ``start.lock``: the server ``server.json`` names, if its process still runs;
        else a new one, on ``port`` if given (a restart) or the old port if free."""
        info = ServerInfo.read(self._info_file)
        if info is not None and info.process is not None and is_running(info.process) is None:
            # Another container (or machine) shares this directory: its server is out of
            # this process's reach, and a second server must never open the same files.
            raise StorageUnavailableError(
                f"the embedded database in {self.data_dir} is run by a process this one "
                f"cannot see ({info.process.describe()}: another container or machine); "
                "to share a database between them, give every process the same "
                "PAGEMIND_MONGODB_URI"
            )
        if info is not None and info.running():
            if await self._answers_soon(info):
                log.info("using the embedded database already running at %s", info.uri)
                return info
            raise StorageUnavailableError(
                f"the embedded database at {info.uri} (pid {info.pid}) runs but did not answer "
                f"within {self.start_timeout:.0f} s; see {self._log_file}"
            )
        if port is None:
            old = info.port if info is not None else None
            port = old if old is not None and port_is_free(old) else free_port()
        return await self._launch(port)

    async def _answers_soon(self, info: ServerInfo) -> bool:
        deadline = asyncio.get_running_loop().time() + self.start_timeout
        while asyncio.get_running_loop().time() < deadline and info.running():
            # A plain connect first: a server that is going away can leave the driver
            # holding a half-open socket after its ping fails.
            if await _listening(info.port) and await answers(info.uri, timeout_ms=2000):
                return True
            await asyncio.sleep(0.1)
        return False

    async def _launch(self, port: int) -> ServerInfo:
        log.info("starting the embedded database (nx-27017) on 127.0.0.1:%d", port)
        with self._log_file.open("ab") as log_file:
            # A server that is nobody's to wait for: no Popen object (it would warn when
            # dropped while the server runs on), its own session (no terminal's Ctrl-C).
            pid = os.posix_spawn(  # noqa: ASYNC221 - returns once the process exists
                sys.executable,
                [sys.executable, "-m", "adapters.mongo.nx_keeper", str(self.data_dir), str(port)],
                dict(os.environ),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_DUP2, log_file.fileno(), 2),
                ],
                setsid=True,
            )
        self._children.add(pid)
        info = ServerInfo(port, identity_of(pid), pid)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while loop.time() < deadline:
            if not info.running():
                self._reap()
                raise StorageUnavailableError(self._startup_failure())
            if await _listening(port) and await answers(info.uri, timeout_ms=5000):
                self._info_file.write_text(info.to_json())
                return info
            await asyncio.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        raise StorageUnavailableError(
            f"the embedded database did not answer within {self.start_timeout:.0f} s; "
            f"see {self._log_file}"
        )

    def _reap(self) -> None:
        """Collect the exit status of servers this process started that have ended."""
        for pid in list(self._children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self._children.discard(pid)

    async def _keep_running(self) -> None:
        """If the server dies, start it again on the same port (one process does; the
        others find it running): every driver reconnects to the same address."""
        while True:
            await asyncio.sleep(self.check_every)
            self._reap()
            server = self.server
            if server is None or server.running():
                continue
            log.warning("the embedded database (pid %d) has stopped; starting it again", server.pid)
            try:
                async with self._starting():
                    restarted = await self._join_or_start(server.port)
            except StorageUnavailableError as exc:
                log.error("could not start the embedded database again: %s", exc)
                continue
            if restarted.port != server.port:
                log.error(
                    "the embedded database came back on another port (%d, not %d): this "
                    "process cannot reach it; restart it",
                    restarted.port,
                    server.port,
                )
            self.server = restarted

    @contextlib.asynccontextmanager
    async def _starting(self) -> AsyncIterator[None]:
        """Hold ``start.lock``: one process at a time joins, starts or stops the server."""
        with (self.data_dir / START_LOCK).open("a+") as lock:
            await self._flock(lock, fcntl.LOCK_EX, "start", self.start_timeout + 15)
            yield  # closing the file releases the lock

    async def _flock(
        self, file: IO[str], operation: int, what: str, within: float | None = None
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (within or self.start_timeout)
        while True:
            try:
                fcntl.flock(file, operation | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if loop.time() > deadline:
                    raise StorageUnavailableError(
                        f"could not {what} the embedded database in {self.data_dir}: another "
                        f"process has been starting or stopping it for too long"
                    ) from None
                await asyncio.sleep(0.02)

    def _startup_failure(self) -> str:
        try:
            tail = self._log_file.read_text(errors="replace")[-2000:].strip()
        except OSError:
            tail = ""
        return f"the embedded database (nx-27017) exited at start-up: {tail or 'no output'}"
