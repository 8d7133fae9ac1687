"""Idle cost: the database commands an idle ``pagemind run``-shaped process sends in the
background, and how fast it picks up an event another process recorded.

The service is built exactly as ``pagemind run`` builds it (``bots.bootstrap.bootstrap``,
check-ins on, no platform traffic) in this process, with a scripted model (a test double);
PyMongo command monitoring counts every command its client sends. Scenarios:

* storage: the embedded nx-27017 (a fresh data directory), or nx-27017 reached by
  ``PAGEMIND_MONGODB_URI`` (the path a real MongoDB takes; a standalone server, so no
  change streams);
* peers: alone, or with a second replica (a real worker process, ``tests.support.worker``)
  on the same database;
* state: "idle" right after start-up, and "holding a lease" after one message (a worker keeps
  an agent's lease for 5 minutes after its last event).

Pick-up latency (with ``--pickups N``): this process then records N events for the agent the
service runs, as another process on the machine would (the inbox, then the doorbell), and
times each until the service's model is asked about it.

    python -m bench.idle [--seconds 60] [--storage embedded,uri] [--peers 0,1]
        [--pickups 20]

Last line: idle_db_commands_per_s=<the worst scenario> pickup_ms_p50=<x> pickup_ms_max=<y>
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import monitoring

from bots.bootstrap import Service, bootstrap
from config.settings import Settings
from core.events import Address, SendReply, UserMessageReceived
from core.ports.model import ChatRequest, ChatResponse
from tests.support.mongo import nx_server
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply
from tests.support.processes import Collector, Worker, start_worker
from tests.support.scripted import ScriptedModel, say

AGENT = "bench:user:1"


class CommandCounter(monitoring.CommandListener):
    """Every command this process's clients send while ``counting``, by name."""

    def __init__(self) -> None:
        self.counting = False
        self.commands: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.counting:
            collection = event.command.get(event.command_name)
            name = event.command_name
            self.commands[f"{name} {collection}" if isinstance(collection, str) else name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class TimedModel(ScriptedModel):
    """A scripted model (a TEST DOUBLE) that notes when it is asked about each message."""

    def __init__(self) -> None:
        super().__init__(default=say("ok"))
        self.asked: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        for message in request.messages:
            if message.role == "user" and "pickup-" in message.content:
                key = message.content.split("pickup-", 1)[1].split()[0]
                self.asked.setdefault(key, time.perf_counter())
                self.changed.set()
        response = await super().complete(request)
        self.requests.clear()
        return response


class NullSink:
    async def send(self, reply: SendReply) -> None:
        return None


@dataclass
class Scenario:
    storage: str
    peers: int
    rates: dict[str, float] = field(default_factory=dict)  # state -> commands/s
    by_command: dict[str, Counter[str]] = field(default_factory=dict)
    pickups_ms: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.storage}, {'alone' if not self.peers else f'{self.peers} peer'}"


def message(text: str) -> UserMessageReceived:
    return UserMessageReceived(
        event_id=f"bench:{uuid.uuid4().hex}",
        agent_key=AGENT,
        occurred_at=datetime.now(UTC),
        text=text,
        reply_to=Address(platform="bench", channel_id="1", is_direct=True),
    )


@asynccontextmanager
async def database(storage: str, workdir: Path) -> AsyncIterator[dict[str, str]]:
    """Settings (as environment values) for the scenario's database."""
    if storage == "embedded":
        yield {"PAGEMIND_DATA_DIR": str(workdir / "data")}
        return
    (workdir / "nx-uri").mkdir()
    with nx_server(workdir / "nx-uri") as uri:
        yield {
            "PAGEMIND_MONGODB_URI": uri,
            "PAGEMIND_MONGODB_DATABASE": "idle",
            "PAGEMIND_DATA_DIR": str(workdir / "data"),
        }


async def measure(counter: CommandCounter, seconds: float) -> tuple[float, Counter[str]]:
    counter.commands.clear()
    counter.counting = True
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    counter.counting = False
    elapsed = time.perf_counter() - started
    return sum(counter.commands.values()) / elapsed, Counter(counter.commands)


async def pickups(svc: Service, model: TimedModel, count: int) -> list[float]:
    """Events recorded by "another process" (this one, through its own client) for the
    agent the service runs: milliseconds until the service's model is asked."""
    from adapters.mongo.connection import MongoConnection
    from tests.support.processes import Recorder

    settings = svc.settings
    uri = settings.mongodb_uri.get_secret_value() if settings.mongodb_uri else _embedded(settings)
    client = MongoConnection(uri, settings.mongodb_database)  # its own, as another process's
    recorder = Recorder(client)
    times: list[float] = []
    try:
        for i in range(count):
            key = f"{i}-{uuid.uuid4().hex[:6]}"
            started = time.perf_counter()
            await recorder.put(message(f"pickup-{key} from elsewhere"))
            while key not in model.asked:
                await model.changed.wait()
                model.changed.clear()
            times.append((model.asked[key] - started) * 1000)
            await svc.dispatcher.join()
            await asyncio.sleep(0.2)
    finally:
        await client.aclose()
    return times


def _embedded(settings: Settings) -> str:
    import json

    return str(json.loads((settings.data_dir / "mongo" / "server.json").read_text())["uri"])


async def run_scenario(
    storage: str, peers: int, opts: argparse.Namespace, counter: CommandCounter
) -> Scenario:
    scenario = Scenario(storage, peers)
    workdir = Path(tempfile.mkdtemp(prefix="pagemind-idle-"))
    print(f"  {scenario.name}: running...", file=sys.stderr, flush=True)
    try:
        async with AsyncExitStack() as stack:
            env = await stack.enter_async_context(database(storage, workdir))
            workers: list[Worker] = []
            if peers:
                llm = await stack.enter_async_context(ScriptedOpenAIServer(default=_echo))
                collector = await stack.enter_async_context(Collector())
                for n in range(peers):
                    worker_env = {
                        **env,
                        "PAGEMIND_LLM_BASE_URL": llm.base_url,
                        "PAGEMIND_LLM_MODEL": "scripted",
                        "PAGEMIND_LOG_LEVEL": "WARNING",
                    }
                    log = workdir / f"peer{n}.log"
                    workers.append(await start_worker(worker_env, collector, log))
            values: dict[str, Any] = {"data_dir": Path(env["PAGEMIND_DATA_DIR"])}
            if "PAGEMIND_MONGODB_URI" in env:
                values |= {
                    "mongodb_uri": env["PAGEMIND_MONGODB_URI"],
                    "mongodb_database": env["PAGEMIND_MONGODB_DATABASE"],
                }
            settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
            model = TimedModel()
            async with bootstrap(settings, replies=NullSink(), model=model) as svc:
                await asyncio.sleep(opts.warmup)
                rate, commands = await measure(counter, opts.seconds)
                scenario.rates["idle"], scenario.by_command["idle"] = rate, commands
                await svc.dispatcher.submit(message("hello"))
                await svc.dispatcher.join()
                await asyncio.sleep(opts.warmup)
                rate, commands = await measure(counter, opts.seconds)
                scenario.rates["holding a lease"] = rate
                scenario.by_command["holding a lease"] = commands
                if opts.pickups:
                    scenario.pickups_ms = await pickups(svc, model, opts.pickups)
            for worker in workers:
                await worker.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"  {scenario.name}: "
        + ", ".join(f"{state} {rate:.2f}/s" for state, rate in scenario.rates.items()),
        file=sys.stderr,
        flush=True,
    )
    return scenario


def _echo(body: dict[str, Any]) -> dict[str, Any]:
    return tool_reply("send_message", {"message": "ok"})


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report(opts: argparse.Namespace, scenarios: list[Scenario]) -> None:
    print(
        f"Background database commands of one service process, {opts.seconds:.0f} s per "
        f"state, after {opts.warmup:.0f} s of warm-up (PyMongo command monitoring)."
    )
    print()
    states = ["idle", "holding a lease"]
    print("| scenario | " + " | ".join(f"{s}: commands/s" for s in states) + " |")
    print("|---|" + "---|" * len(states))
    for sc in scenarios:
        print(f"| {sc.name} | " + " | ".join(f"{sc.rates[s]:.2f}" for s in states) + " |")
    print()
    names = sorted({c for sc in scenarios for by in sc.by_command.values() for c in by})
    columns = [(sc, s) for sc in scenarios for s in states]
    print("Commands per minute, by command:")
    print()
    print("| command | " + " | ".join(f"{sc.name}, {s}" for sc, s in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name in names:
        cells = [f"{sc.by_command[s][name] * 60 / opts.seconds:.1f}" for sc, s in columns]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    timed = [sc for sc in scenarios if sc.pickups_ms]
    if timed:
        print("Pick-up of an event recorded by another process on the machine (ms, from the start")
        print("of its inbox write to the service's model call):")
        print()
        print("| scenario | p50 | p95 | max |")
        print("|---|---|---|---|")
        for sc in timed:
            ms = sc.pickups_ms
            print(f"| {sc.name} | {pct(ms, 0.5):.1f} | {pct(ms, 0.95):.1f} | {max(ms):.1f} |")
        print()


def summary(scenarios: list[Scenario]) -> str:
    worst = max(rate for sc in scenarios for rate in sc.rates.values() if sc.rates)
    idle = max(sc.rates["idle"] for sc in scenarios)
    ms = [m for sc in scenarios for m in sc.pickups_ms]
    line = f"idle_db_commands_per_s={idle:.2f} holding_lease_db_commands_per_s={worst:.2f}"
    if ms:
        line += f" pickup_ms_p50={statistics.median(ms):.1f} pickup_ms_max={max(ms):.1f}"
    return line


async def main(opts: argparse.Namespace) -> None:
    counter = CommandCounter()
    monitoring.register(counter)
    scenarios = []
    for storage in opts.storage.split(","):
        for peers in (int(p) for p in opts.peers.split(",")):
            scenarios.append(await run_scenario(storage.strip(), peers, opts, counter))
    report(opts, scenarios)
    print(summary(scenarios))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured per state")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--storage", default="embedded,uri")
    parser.add_argument("--peers", default="0,1")
    parser.add_argument("--pickups", type=int, default=20)
    return parser.parse_args(argv)


if __name__ == "__main__":
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    asyncio.run(main(parse()))
