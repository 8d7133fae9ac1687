"""A doorbell between Pagemind processes on one machine: UDP datagrams on 127.0.0.1.

Each worker listens on a loopback port it picks at start and records that port with its
heartbeat and in the leases it holds. Another process on the same machine (same network
namespace, see ``processes``) rings it instead of waiting for it to poll the database:

* ``agents``: events for these agents wait in the inbox and you hold their leases;
* ``beat``: a new worker has started, renew your heartbeat now (so you see it);
* ``gone``: this worker is stopping; what it leaves is free to take.

A datagram costs no database command and arrives in microseconds; one can be lost (a full
receive buffer), which is why every worker still reads the inbox now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MAX_DATAGRAM = 60_000
RECEIVE_BUFFER = 1 << 20


@dataclass
class Listeners:
    """What to do when the bell rings (set by whoever runs the worker)."""

    agents: Callable[[Sequence[str]], None] = lambda keys: None
    beat: Callable[[], None] = lambda: None
    gone: Callable[[], None] = lambda: None


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, listeners: Listeners) -> None:
        self.listeners = listeners

    def datagram_received(self, data: bytes, addr: object) -> None:
        try:
            message = json.loads(data)
            kind = message.get("kind")
            if kind == "agents":
                self.listeners.agents([str(k) for k in message.get("agents", [])])
            elif kind == "beat":
                self.listeners.beat()
            elif kind == "gone":
                self.listeners.gone()
        except (ValueError, AttributeError, TypeError):
            log.debug("ignored a malformed datagram on the doorbell")
        except Exception:
            log.exception("a doorbell listener failed")

    def error_received(self, exc: Exception) -> None:
        log.debug("doorbell: %s", exc)


@dataclass
class Doorbell:
    listeners: Listeners = field(default_factory=Listeners)
    port: int | None = None  # where this process listens, once open
    _transport: asyncio.DatagramTransport | None = None

    async def open(self) -> int | None:
        """Start listening on a free loopback port; None if that is not possible here."""
        if self._transport is not None:
            return self.port
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(self.listeners), sock=sock
            )
        except OSError as exc:
            sock.close()
            log.info("no doorbell on 127.0.0.1 (%s): other processes are found by polling", exc)
            return None
        self._transport = transport
        self.port = int(sock.getsockname()[1])
        return self.port

    def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
        self.port = None

    def ring_agents(self, port: int, agent_keys: Sequence[str]) -> None:
        batch: list[str] = []
        size = 0
        for key in agent_keys:
            if batch and size + len(key) > MAX_DATAGRAM // 2:
                self._send(port, {"kind": "agents", "agents": batch})
                batch, size = [], 0
            batch.append(key)
            size += len(key) + 4
        if batch:
            self._send(port, {"kind": "agents", "agents": batch})

    def ring_beat(self, port: int) -> None:
        self._send(port, {"kind": "beat"})

    def ring_gone(self, port: int) -> None:
        self._send(port, {"kind": "gone"})

    @staticmethod
    def _send(port: int, message: dict[str, object]) -> None:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                sender.setblocking(False)
                sender.sendto(json.dumps(message).encode(), ("127.0.0.1", port))
        except OSError as exc:  # nobody there any more, or a full buffer: polling covers it
            log.debug("doorbell on port %d: %s", port, exc)
