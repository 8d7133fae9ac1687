"""The embedded database shared by several real processes on one data directory: it outlives
the process that started it, stops after the last one, starts once when many start at once,
comes back on the same port if it dies, and a stale ``server.json`` never misleads."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from adapters.mongo.embedded import EmbeddedMongo
from adapters.mongo.processes import ProcessIdentity, this_process
from core.errors import StorageUnavailableError
from tests.support.mongo import die_with_parent

ROOT = Path(__file__).resolve().parents[2]


class User:
    """A real process using the embedded database (``tests.support.embedded_user``)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, data: Path) -> User:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.support.embedded_user", str(data),
            cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, preexec_fn=die_with_parent,
        )  # fmt: skip
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.lines.append(line.decode().strip())

    async def wait_for(self, predicate, what: str, timeout: float = 60) -> str:
        deadline = asyncio.get_running_loop().time() + timeout
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            if asyncio.get_running_loop().time() > deadline or self._reader.done():
                raise AssertionError(f"never saw {what}: {self.lines[-20:]}")
            await asyncio.sleep(0.05)

    async def uri(self) -> str:
        return (await self.wait_for(lambda line: line.startswith("uri mongodb://"), "its uri"))[4:]

    def writes(self) -> int:
        done = [int(line.split()[1]) for line in self.lines if line.startswith("wrote ")]
        return max(done, default=0)

    async def keeps_writing(self, more: int = 5) -> None:
        target = self.writes() + more
        await self.wait_for(
            lambda line: line.startswith("wrote ") and int(line.split()[1]) >= target,
            f"{more} more writes",
        )

    async def leave(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = await asyncio.wait_for(self.process.wait(), 60)
        await self._reader
        return code

    async def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        await self._reader


def server_info(data: Path) -> dict | None:
    try:
        return json.loads((data / "server.json").read_text())
    except (OSError, ValueError):
        return None


def server_pid(data: Path) -> int | None:
    info = server_info(data) or {}
    return (info.get("process") or {}).get("pid") or info.get("pid")


def server_runs(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


async def until(condition, what: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
def users():
    started: list[User] = []
    yield started
    for user in started:
        if user.process.returncode is None:
            user.process.kill()


async def test_the_server_outlives_the_process_that_started_it(tmp_path: Path, users) -> None:
    data = tmp_path / "mongo"
    first = await User.start(data)
    users.append(first)
    uri = await first.uri()
    second = await User.start(data)
    users.append(second)
    assert await second.uri() == uri, "the second process joins the running server"
    server = server_pid(data)
    assert server is not None
    await second.keeps_writing()

    await first.kill()  # kill -9 of the process that started the server
    failures_before = sum(line.startswith("failed") for line in second.lines)
    await second.keeps_writing(10)
    assert sum(line.startswith("failed") for line in second.lines) == failures_before
    assert server_runs(server), "the server still runs"

    await second.leave()
    await until(lambda: not server_runs(server), "the server to stop after its last user")
    assert server_info(data) is None, "server.json goes with the server"


async def test_the_last_user_killed_stops_the_server_and_the_next_starts_afresh(
    tmp_path: Path, users
) -> None:
    data = tmp_path / "mongo"
    first, second = await User.start(data), await User.start(data)
    users.extend([first, second])
    uri = await first.uri()
    assert await second.uri() == uri
    server = server_pid(data)
    assert server is not None
    assert await second.leave() == 0  # a clean exit of one user...
    await first.keeps_writing()  # ...leaves the server to the other
    await first.kill()
    await until(lambda: not server_runs(server), "the server to stop after a kill -9 of the last")
    assert server_info(data) is None

    third = await User.start(data)
    users.append(third)
    await third.uri()
    await third.keeps_writing()
    assert server_pid(data) not in (None, server)
    assert await third.leave() == 0


async def test_processes_starting_at_the_same_moment_share_one_server(
    tmp_path: Path, users
) -> None:
    data = tmp_path / "mongo"
    started = await asyncio.gather(*(User.start(data) for _ in range(4)))
    users.extend(started)
    uris = {await user.uri() for user in started}
    assert len(uris) == 1, uris
    servers = [
        pid
        for pid in os.listdir("/proc")
        if pid.isdigit() and f"adapters.mongo.nx_keeper {data} " in _cmdline(int(pid))
    ]
    assert len(servers) == 1, servers
    for user in started:
        await user.keeps_writing(2)
        assert await user.leave() == 0


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


async def test_a_stale_server_json_never_misleads_a_newcomer(
    tmp_path: Path, users, nx_uri: str
) -> None:
    """``server.json`` names a pid that now belongs to another process, and a port where a
    MongoDB server of another data directory answers: the newcomer starts its own server."""
    data = tmp_path / "mongo"
    data.mkdir(parents=True)
    me = this_process()
    assert me is not None
    impostor = ProcessIdentity(me.machine, me.network, me.pid, me.started + 1, me.host)
    port = int(nx_uri.rsplit(":", 1)[1])
    (data / "server.json").write_text(
        json.dumps({"pid": me.pid, "uri": nx_uri, "port": port, "process": impostor.to_doc()})
    )
    user = await User.start(data)
    users.append(user)
    uri = await user.uri()
    assert uri != nx_uri
    await user.keeps_writing()
    assert server_info(data)["uri"] == uri  # type: ignore[index]
    assert await user.leave() == 0


async def test_a_killed_server_comes_back_on_the_same_port(tmp_path: Path, users) -> None:
    data = tmp_path / "mongo"
    first, second = await User.start(data), await User.start(data)
    users.extend([first, second])
    uri = await first.uri()
    assert await second.uri() == uri
    await first.keeps_writing()
    server = server_pid(data)
    assert server is not None
    os.kill(server, signal.SIGKILL)
    await until(lambda: not server_runs(server), "the server to die")
    await until(lambda: server_pid(data) not in (None, server), "a new server")
    assert server_info(data)["uri"] == uri, "on the same port"  # type: ignore[index]
    await first.keeps_writing()
    await second.keeps_writing()
    assert await first.leave() == 0
    assert await second.leave() == 0


async def test_a_server_of_another_container_is_never_joined_nor_doubled(tmp_path: Path) -> None:
    """``server.json`` names a process in another pid namespace (a container sharing the
    data directory): this process can neither reach nor check it, so it says so instead of
    opening the same database files with a second server."""
    data = tmp_path / "mongo"
    data.mkdir(parents=True)
    me = this_process()
    assert me is not None
    other = ProcessIdentity("another-boot/pid:[7]", "another-boot/net:[7]", 1, 1, "box-2")
    (data / "server.json").write_text(
        json.dumps({"uri": "mongodb://127.0.0.1:1", "port": 1, "process": other.to_doc()})
    )
    with pytest.raises(StorageUnavailableError, match="another container or machine"):
        await EmbeddedMongo(data).start()
    assert server_info(data)["process"]["host"] == "box-2", "left as it was"  # type: ignore[index]
