"""The embedded default database: nx-27017, a MongoDB wire-protocol server over SQLite.

With no ``PAGEMIND_MONGODB_URI``, Pagemind starts it as a child process on a free loopback
port with a data directory, waits until it answers, and stops it on exit. A second Pagemind
process on the same data directory finds the running server (``server.json``) and connects
to it instead of starting another.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from core.errors import StorageUnavailableError

log = logging.getLogger(__name__)


def _stop_with_parent() -> None:
    """In the child: SIGTERM when Pagemind dies, even by SIGKILL (Linux; elsewhere the server
    outlives it and the next start reuses it through ``server.json``)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _listening(port: int) -> bool:
    """Whether something accepts connections on the port (cheaper than a driver ping)."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def answers(uri: str, timeout_ms: int = 500) -> bool:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        await client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        await client.close()


class EmbeddedMongo:
    """Owns an nx-27017 child process (or joins one another Pagemind process started)."""

    def __init__(self, data_dir: Path, *, start_timeout: float = 30.0) -> None:
        self.data_dir = data_dir
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.uri = ""

    @property
    def _info_file(self) -> Path:
        return self.data_dir / "server.json"

    @property
    def _log_file(self) -> Path:
        return self.data_dir / "nx-27017.log"

    async def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        running = await self._running_server()
        if running:
            log.info("using the embedded database already running at %s", running)
            self.uri = running
            return running
        port = free_port()
        command = [
            sys.executable, "-m", "nx_27017.nx_27017",
            "--data-dir", str(self.data_dir / "db"),
            "--host", "127.0.0.1",
            "--port", str(port),
            "--log-file", str(self._log_file),
            "--pid-file", str(self.data_dir / "nx-27017.pid"),
        ]  # fmt: skip
        log.info("starting the embedded database (nx-27017) on 127.0.0.1:%d", port)
        self.process = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, not awaited
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_stop_with_parent,
        )
        self.uri = f"mongodb://127.0.0.1:{port}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while loop.time() < deadline:
            if self.process.poll() is not None:
                raise StorageUnavailableError(self._startup_failure())
            if await _listening(port) and await answers(self.uri, timeout_ms=5000):
                self._info_file.write_text(json.dumps({"pid": self.process.pid, "uri": self.uri}))
                return self.uri
            await asyncio.sleep(0.1)
        await self.stop()
        raise StorageUnavailableError(
            f"the embedded database did not answer within {self.start_timeout:.0f} s; "
            f"see {self._log_file}"
        )

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self._info_file.unlink()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    await asyncio.to_thread(process.wait)
            except TimeoutError:
                process.kill()
                await asyncio.to_thread(process.wait)
        if process.stderr is not None:
            process.stderr.close()

    async def _running_server(self) -> str | None:
        try:
            info = json.loads(self._info_file.read_text())
            pid, uri = int(info["pid"]), str(info["uri"])
        except (OSError, ValueError, KeyError):
            return None
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        port = int(uri.rsplit(":", 1)[-1])
        # A plain connect first: a server that is going away can leave the driver holding a
        # half-open socket after its ping fails.
        if not await _listening(port):
            return None
        return uri if await answers(uri, timeout_ms=2000) else None

    def _startup_failure(self) -> str:
        stderr = b""
        if self.process is not None and self.process.stderr is not None:
            stderr = self.process.stderr.read()[-2000:]
        tail = stderr.decode(errors="replace").strip()
        try:
            tail = tail or self._log_file.read_text()[-2000:]
        except OSError:
            pass
        return f"the embedded database (nx-27017) exited at start-up: {tail or 'no output'}"
