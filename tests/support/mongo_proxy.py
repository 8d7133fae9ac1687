"""A TCP proxy on 127.0.0.1 in front of a MongoDB server, that can stall one command: the
command reaches the server and runs, but its answer is held back, so the client times out on
work that was done (what a busy or far-away database does). A real fault at the wire, with
nothing of ours patched.

It reads the wire protocol just enough to find a command: each message starts with a 16-byte
header (length, request id, the id it answers, op code); an ``OP_MSG`` (2013) carries the
command as its first BSON document.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import bson

OP_MSG = 2013
Command = dict[str, Any]


@dataclass
class StallingProxy:
    target_port: int
    port: int = 0
    stalled: asyncio.Event = field(default_factory=asyncio.Event)
    commands: list[str] = field(default_factory=list)
    _stall: Callable[[Command], bool] | None = None
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def uri(self, **options: object) -> str:
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"mongodb://127.0.0.1:{self.port}/" + (f"?{query}" if query else "")

    def stall_once(self, matches: Callable[[Command], bool]) -> None:
        """Hold back the answer to the next command that ``matches`` (it still runs)."""
        self._stall = matches
        self.stalled.clear()

    async def __aenter__(self) -> StallingProxy:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _connection(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        held: set[int] = set()  # request ids whose answers are swallowed
        upstream = asyncio.ensure_future(self._pump(client_reader, server_writer, held, True))
        downstream = asyncio.ensure_future(self._pump(server_reader, client_writer, held, False))
        for task in (upstream, downstream):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await asyncio.wait({upstream, downstream}, return_when=asyncio.FIRST_COMPLETED)
        for task in (upstream, downstream):
            task.cancel()
        for writer in (client_writer, server_writer):
            writer.close()

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        held: set[int],
        from_client: bool,
    ) -> None:
        try:
            while True:
                header = await reader.readexactly(16)
                length, request_id, response_to, op_code = struct.unpack("<iiii", header)
                body = await reader.readexactly(length - 16)
                if from_client and op_code == OP_MSG:
                    command = _command(body)
                    self.commands.append(next(iter(command), ""))
                    if self._stall is not None and self._stall(command):
                        self._stall = None
                        held.add(request_id)
                if not from_client and response_to in held:
                    self.stalled.set()  # the work is done; the client never hears of it
                    continue
                writer.write(header + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return


def _command(body: bytes) -> Command:
    """The command document of an OP_MSG body (flag bits, then a kind-0 section)."""
    if len(body) < 9 or body[4] != 0:
        return {}
    size = struct.unpack("<i", body[5:9])[0]
    decoded: Command = bson.decode(body[5 : 5 + size])
    return decoded
