"""Run Pagemind worker processes for a test, and collect what they deliver."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.mongo.connection import MongoConnection
from adapters.mongo.inbox import MongoInbox
from adapters.mongo.leases import MongoLeases
from core.clock import SystemClock
from core.events import Event
from tests.support.mongo import die_with_parent

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Collector:
    """An HTTP endpoint on 127.0.0.1 that records every reply the workers deliver."""

    replies: list[dict[str, Any]] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)  # time.time() of each reply
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/replies"

    async def __aenter__(self) -> Collector:
        app = web.Application()
        app.router.add_post("/replies", self._record)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _record(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.arrived.append(time.time())
        self.replies.append(body)
        return web.json_response({"ok": True})

    async def wait_for(self, count: int, timeout: float = 30.0) -> None:
        await self.wait_until(lambda replies: len(replies) >= count, f"{count} replies", timeout)

    async def wait_until(
        self, done: Callable[[list[dict[str, Any]]], bool], what: str, timeout: float = 30.0
    ) -> None:
        """Until ``done(replies)`` holds; ``timeout`` is only a safety net that fails loudly."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not done(self.replies):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"never saw {what}: {len(self.replies)} replies arrived")
            await asyncio.sleep(0.05)


class Recorder:
    """Records events the way a process that runs no agents does (``pagemind ingest``): in
    the inbox, then rings the worker that runs the agent (or every worker, if none does)."""

    def __init__(self, connection: MongoConnection) -> None:
        self.inbox = MongoInbox(connection, SystemClock())
        self.leases = MongoLeases(connection, SystemClock(), worker_id="test-recorder")

    async def put(self, event: Event) -> bool:
        fresh = await self.inbox.put(event)
        if fresh:
            await self.leases.nudge(event.agent_key)
        return fresh


@dataclass
class Worker:
    process: asyncio.subprocess.Process
    log: Path

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as in a crash."""
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode or 0


async def start_worker(env: dict[str, str], collector: Collector, log: Path) -> Worker:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGEMIND_", "OPENAI_"))}
    full_env.update(env)
    handle = log.open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.worker", collector.url,
        cwd=ROOT, env=full_env, stdout=handle, stderr=handle, stdin=asyncio.subprocess.DEVNULL,
        preexec_fn=die_with_parent,  # a failed or interrupted test leaves no worker behind
    )  # fmt: skip
    handle.close()
    deadline = asyncio.get_running_loop().time() + 60
    while b"worker ready" not in log.read_bytes():
        if process.returncode is not None or asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"worker did not start:\n{log.read_text()[-3000:]}")
        await asyncio.sleep(0.05)
    return Worker(process, log)
