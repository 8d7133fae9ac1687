"""The model server of ``bench.end_to_end``: the scripted OpenAI-compatible test double,
timing itself, in a process of its own (its CPU is not Pagemind's, as with a real one).

    python -m bench.model_process   # prints its port; "served" on stdin -> the timings
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.turn_overhead import rhythm
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply

MODEL = "gpt-4o-mini"


class TimedModelServer(ScriptedOpenAIServer):
    """The scripted server, timing itself: (arrival, seconds in the handler) per request.
    Bodies are not kept (hundreds of kilobytes each by the end)."""

    def __init__(self) -> None:
        super().__init__()
        self.models = [MODEL]  # what the start-up check finds in GET /v1/models
        self.served: list[tuple[float, float]] = []
        self.turn = -1
        self.plan: Iterator[tuple[str, dict[str, object]]] = iter(())
        self.default = self._next_step  # type: ignore[assignment]

    def _next_step(self, body: dict[str, Any]) -> dict[str, Any]:
        last = body["messages"][-1]
        if last["role"] == "user":  # a new user message: plan its steps
            self.turn += 1
            text = str(last["content"]).split(": ", 1)[-1]
            self.plan = iter(rhythm(self.turn, text))
        name, arguments = next(self.plan)
        return tool_reply(name, arguments)

    async def _chat(self, request: web.Request) -> web.Response:
        arrived, started = time.monotonic(), time.perf_counter()
        response = await super()._chat(request)
        # The parsed body (thousands of objects by the end) is freed here, on the server's
        # time: freed after the clock stopped, it was counted as Pagemind's (0.5 ms a
        # message at 500 messages).
        self.requests[-1] = (arrived, {})
        self.raw_requests.clear()
        self.served.append((arrived, time.perf_counter() - started))
        return response


async def serve_model() -> None:
    """Run the server, print its port, answer "served" on stdin with the timings so far (one
    JSON line), stop at end of input."""
    async with TimedModelServer() as server:
        print(server.port, flush=True)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if line.strip() == "served":
                print(json.dumps(server.served), flush=True)


class ModelProcess:
    """The model server in a process of its own (its CPU is not ours, as with a real one)."""

    async def __aenter__(self) -> ModelProcess:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.model_process",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[1],
        )  # fmt: skip
        assert self.process.stdout is not None
        port = int(await self.process.stdout.readline())
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    async def served(self) -> list[tuple[float, float]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(b"served\n")
        await self.process.stdin.drain()
        return [(a, s) for a, s in json.loads(await self.process.stdout.readline())]

    async def __aexit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()


if __name__ == "__main__":
    asyncio.run(serve_model())
