"""The operator API on a big agent, and the OpenAI-compatible endpoint under concurrency.

Reads: one agent with ``--messages`` messages (default 100,000, loaded straight into the
stores in batches, as ``bench/store.py`` does; the last 40 in its FIFO queue, the rest
summarised) on nx-27017, the service built by the composition root (the real OpenAI adapter
pointed at a scripted model server on 127.0.0.1), the API served by uvicorn on a free
loopback port. Each read is sent ``--runs`` times over HTTP with a viewer key: the agent
(``GET /api/agents/{key}``), its working context (``/memory``), one page of messages
(``/messages?limit=50``) and the context-window breakdown (``/context``). A route this build
does not serve (its path is not in ``/openapi.json``) says "not served yet".

Chat: ``--users`` (default 50) people send one message each at once through
``POST /v1/chat/completions`` with the official ``openai`` client (in a separate process, so
the client's work is not the server's), the scripted model answering at once with
``send_message``: errors, throughput, p50/p95 latency.

    python -m bench.api [--messages 100000] [--runs 200] [--users 50]

Last line: agent_p95_ms=<a> memory_p95_ms=<m> messages_p95_ms=<p> context_p95_ms=<c>
chat_errors=<e> chat_per_s=<t> chat_p95_ms=<l> (n/a for a route not served)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bots.api import serve_api
from bots.bootstrap import bootstrap
from config.settings import load_settings
from core.context.memory import MemoryBlock, WorkingContext
from core.messages import Message, ToolCall
from core.records import AgentState
from tests.support.agents import RecordingSink
from tests.support.mongo import nx_server
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply

AGENT = "telegram:user:100000"
FIFO = 40  # messages in the agent's FIFO queue (the rest are summarised)
TARGET_MS = 50.0


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def message(seq: int, start: datetime) -> Message:
    at = start + timedelta(minutes=seq)
    if seq % 2:
        text = f"Message {seq}: I went hiking near the lake and saw {seq % 97} herons."
        return Message(seq=seq, role="user", kind="user_message", content=text, created_at=at)
    said = json.dumps({"message": f"Reply {seq}: how lovely, tell me about the herons."})
    call = ToolCall(id=f"call_{seq}", name="send_message", arguments=said)
    return Message(
        seq=seq, role="assistant", kind="assistant", content="Inner thought.", created_at=at,
        tool_calls=(call,),
    )  # fmt: skip


async def load_agent(svc: Any, messages: int) -> float:
    started = time.perf_counter()
    start = datetime.now(UTC) - timedelta(minutes=messages + 1)
    batch = 1000
    for first in range(1, messages + 1, batch):
        last = min(first + batch, messages + 1)
        await svc.storage.recall.append(AGENT, [message(s, start) for s in range(first, last)])
    now = datetime.now(UTC)
    memory = WorkingContext(
        blocks=(MemoryBlock(label="persona", value="I am a patient companion. " * 20),
                MemoryBlock(label="human", value="Likes hiking, herons and tea. " * 25))
    )  # fmt: skip
    state = AgentState(
        agent_key=AGENT, memory=memory, last_seq=messages,
        summary_upto_seq=max(0, messages - FIFO), summary="They talked about hikes. " * 30,
        created_at=start, updated_at=now,
    )  # fmt: skip
    await svc.storage.agents.save(state, None)
    return time.perf_counter() - started


async def reads(url: str, key: str, runs: int) -> dict[str, tuple[float, float] | None]:
    paths = {
        "agent": "/api/agents/{agent_key}",
        "memory": "/api/agents/{agent_key}/memory",
        "messages": "/api/agents/{agent_key}/messages",
        "context": "/api/agents/{agent_key}/context",
    }
    query = {"messages": {"limit": 50}}
    results: dict[str, tuple[float, float] | None] = {}
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        served = (await http.get("/openapi.json")).json()["paths"]
        for name, path in paths.items():
            if path not in served:
                results[name] = None
                continue
            target = path.format(agent_key=AGENT)
            (await http.get(target, params=query.get(name))).raise_for_status()  # warm
            times = []
            for _ in range(runs):
                began = time.perf_counter()
                response = await http.get(target, params=query.get(name))
                times.append(time.perf_counter() - began)
                response.raise_for_status()
            results[name] = (statistics.median(times) * 1000, pct(times, 95) * 1000)
    return results


CLIENT = """
import asyncio, json, sys, time
import openai

async def main(url, key, users):
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key=key, max_retries=0,
                                  timeout=120) as client:
        async def one(n):
            began = time.perf_counter()
            try:
                reply = await client.chat.completions.create(
                    model="pagemind", user=f"bench-{n}",
                    messages=[{"role": "user", "content": f"Hello, I am person {n}."}])
                ok = reply.choices[0].message.content == "Nice to meet you."
                return time.perf_counter() - began, None if ok else "wrong reply"
            except openai.OpenAIError as exc:
                return time.perf_counter() - began, f"{type(exc).__name__}: {exc}"
        began = time.perf_counter()
        done = await asyncio.gather(*(one(n) for n in range(users)))
        wall = time.perf_counter() - began
    print(json.dumps({"wall": wall, "latencies": [d[0] for d in done],
                      "errors": [d[1] for d in done if d[1]]}))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def concurrent_chat(url: str, key: str, users: int) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENT, url, key, str(users),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"the chat client failed: {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return result


async def measure(uri: str, messages: int, runs: int, users: int) -> dict[str, Any]:
    reply = tool_reply("send_message", {"message": "Nice to meet you."})
    async with ScriptedOpenAIServer(default=reply) as llm:
        settings = load_settings(
            PAGEMIND_LLM_BASE_URL=llm.base_url, llm_model="scripted", llm_check=False,
            api_port=0, api_requests_per_minute=1_000_000, checkins=False,
            storage="mongodb", mongodb_uri=uri, mongodb_database="bench_api",
        )  # fmt: skip
        async with bootstrap(settings, replies=RecordingSink()) as svc, serve_api(svc) as api:
            _, viewer = await api.services.keys.create("bench viewer", "viewer")
            _, admin = await api.services.keys.create("bench admin", "admin")
            loaded = await load_agent(svc, messages)
            print(f"  loaded {messages:,} messages in {loaded:.0f} s", file=sys.stderr)
            found = await reads(api.url, viewer, runs)
            chat = await concurrent_chat(api.url, admin, users)
            return {"reads": found, "chat": chat, "model_calls": len(llm.requests)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    with nx_server() as uri:
        result = asyncio.run(measure(uri, args.messages, args.runs, args.users))
    scale = f"{args.messages:,} messages, {args.runs} reads each"
    print(f"{'read (nx-27017)':18} {'p50 ms':>8} {'p95 ms':>8}   "
          f"({scale}, target p95 <= {TARGET_MS:.0f} ms)")  # fmt: skip
    summary = []
    for name, times in result["reads"].items():
        if times is None:
            print(f"{name:18} not served yet")
            summary.append(f"{name}_p95_ms=n/a")
        else:
            print(f"{name:18} {times[0]:8.1f} {times[1]:8.1f}")
            summary.append(f"{name}_p95_ms={times[1]:.1f}")
    chat = result["chat"]
    latencies = chat["latencies"]
    per_s = len(latencies) / chat["wall"]
    p50, p95 = statistics.median(latencies) * 1000, pct(latencies, 95) * 1000
    print(f"{'chat (openai client)':20} {'users':>6} {'errors':>6} {'req/s':>7} "
          f"{'p50 ms':>8} {'p95 ms':>8} {'model calls':>11}")  # fmt: skip
    print(f"{'':20} {args.users:6d} {len(chat['errors']):6d} {per_s:7.1f} {p50:8.1f} "
          f"{p95:8.1f} {result['model_calls']:11d}")  # fmt: skip
    for error in chat["errors"][:5]:
        print(f"  error: {error}")
    summary += [f"chat_errors={len(chat['errors'])}", f"chat_per_s={per_s:.1f}",
                f"chat_p95_ms={p95:.0f}"]  # fmt: skip
    print(" ".join(summary))


if __name__ == "__main__":
    main()
