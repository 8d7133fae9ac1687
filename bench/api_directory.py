"""The operator API's directory reads: one agent, a page of agents, a filter that scans.

``--agents`` agents (default 1,000, each with two 500-800 character blocks) are written to a
fresh database, then the service is built by the composition root (the real OpenAI adapter
pointed at a scripted model server on 127.0.0.1, a test double that is never called here),
the API served by uvicorn on a free loopback port, and each read sent ``--runs`` times with
``pagemind_client`` over HTTP: ``GET /api/agents/{key}``, ``GET /api/agents?limit=50``,
``GET /api/agents?person=nobody&limit=50`` (no agent matches: it reads every key) and
``GET /api/agents/{key}/usage``. On in-memory storage and on nx-27017 (``--storage``).

    python -m bench.api_directory [--agents 1000] [--runs 40] [--storage memory,nx]

Last line: get_p95_ms=<x> list_p95_ms=<y> (nx-27017 when measured, else in memory)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

from bots.api import serve_api
from bots.bootstrap import bootstrap
from config.settings import load_settings
from core.context.memory import MemoryBlock, WorkingContext
from core.records import AgentState
from pagemind_client import AsyncPagemind
from tests.support.agents import RecordingSink
from tests.support.mongo import nx_server
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000


async def measure(storage: str, agents: int, runs: int) -> dict[str, tuple[float, float]]:
    reply = tool_reply("send_message", {"message": "unused"})
    async with ScriptedOpenAIServer(default=reply) as llm:
        values: dict[str, Any] = {
            "PAGEMIND_LLM_BASE_URL": llm.base_url,
            "llm_model": "scripted",
            "llm_check": False,
            "api_port": 0,
            "api_requests_per_minute": 1_000_000,
        }
        if storage == "memory":
            values["storage"] = "memory"
        else:
            values |= {"storage": "mongodb", "mongodb_uri": storage, "mongodb_database": "bench"}
        settings = load_settings(**values)
        async with bootstrap(settings, replies=RecordingSink()) as svc, serve_api(svc) as api:
            _, key = await api.services.keys.create("bench", "viewer")
            now = datetime.now(UTC)
            memory = WorkingContext(
                blocks=(MemoryBlock(label="persona", value="p" * 500),
                        MemoryBlock(label="human", value="h" * 800))
            )  # fmt: skip
            for n in range(agents):
                state = AgentState(
                    agent_key=f"telegram:user:{n:06d}", memory=memory, created_at=now,
                    updated_at=now,
                )  # fmt: skip
                await svc.storage.agents.save(state, None)
            one = f"telegram:user:{agents // 2:06d}"
            async with AsyncPagemind(api.url, key) as pm:
                reads: dict[str, Callable[[], Awaitable[object]]] = {
                    "get": lambda: pm.agents.get(one),
                    "list": lambda: pm.agents.page(limit=50),
                    "scan": lambda: pm.agents.page(limit=50, person="nobody"),
                    "usage": lambda: pm.agents.usage(one),
                }
                results = {}
                for name, read in reads.items():
                    await read()  # warm
                    times = []
                    for _ in range(runs):
                        started = time.perf_counter()
                        await read()
                        times.append(time.perf_counter() - started)
                    results[name] = (statistics.median(times) * 1000, p95(times))
            return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--storage", default="memory,nx")
    args = parser.parse_args()
    rows: list[tuple[str, dict[str, tuple[float, float]]]] = []
    with ExitStack() as stack:
        for storage in args.storage.split(","):
            target = "memory" if storage == "memory" else stack.enter_context(nx_server())
            label = "in memory" if storage == "memory" else "nx-27017"
            rows.append((label, asyncio.run(measure(target, args.agents, args.runs))))
    print(f"{'storage':10} {'read':6} {'p50 ms':>8} {'p95 ms':>8}   ({args.agents} agents)")
    for label, results in rows:
        for name, (p50, p95_ms) in results.items():
            print(f"{label:10} {name:6} {p50:8.1f} {p95_ms:8.1f}")
    last = rows[-1][1]
    print(f"get_p95_ms={last['get'][1]:.1f} list_p95_ms={last['list'][1]:.1f}")


if __name__ == "__main__":
    main()
