"""Core overhead per LLM call, fixed prompt size, and prompt-prefix reuse.

A 500-message conversation is played through the real agent runtime with in-memory stores
and a zero-latency scripted model (a test double). User messages are LoCoMo turns when
``../shared/data/locomo-dev.json`` is present (LoCoMo, Maharana et al. 2024, public repository
snap-research/LoCoMo, file data/locomo10.json), otherwise generated sentences. The scripted
agent replies to every message, edits its working context every 20th message and searches
recall every 50th, so the numbers include memory edits and chained calls.

    python -m bench.turn_overhead [--messages 500] [--locomo PATH]

Last line: overhead_ms_p50=<x> prompt_fixed_tokens=<n> prefix_reuse=<r>
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

from bench.locomo import LOCOMO
from core.context.layout import tool_wire
from core.context.memory import MemoryBlock, WorkingContext
from core.context.tokens import TOKENS_PER_MESSAGE, TOKENS_PER_REPLY, TokenCounter
from core.ports.model import ChatRequest, ChatResponse, PromptMessage
from core.tools.checkin_tools import register_checkin_tools
from core.tools.memgpt import register_memgpt_tools
from core.tools.registry import ToolRegistry
from core.turn.settings import AgentSettings
from tests.support.agents import Harness
from tests.support.scripted import call

REFERENCE = {  # measured by the authors with the same kind of scripted model
    "pymemgpt 0.3.25": ("16.8", "2,629", "0.949"),
    "Letta 0.16.8": ("171-365", "2,317-4,068", "0.967"),
}


def user_texts(n: int, locomo: Path = LOCOMO) -> tuple[list[str], str]:
    if locomo.exists():
        data = json.loads(locomo.read_text("utf-8"))
        texts = []
        for sample in data:
            conversation = sample["conversation"]
            i = 1
            while f"session_{i}" in conversation:
                texts.extend(turn["text"] for turn in conversation[f"session_{i}"])
                i += 1
        return texts[:n], f"LoCoMo turns from {locomo.name}"
    words = "tea garden river book music friend walk city rain plan trip work".split()
    return [
        f"Message {i}: today I thought about {words[i % 12]} and {words[(i * 7) % 12]} again."
        for i in range(n)
    ], "generated sentences (LoCoMo file not found)"


def rhythm(index: int, text: str) -> list[tuple[str, dict[str, object]]]:
    """The scripted agent's function calls for the ``index``-th user message (from 0): a
    working-context edit every 20th message, a recall search every 50th (both asking for a
    heartbeat), then a reply. Shared with ``bench.end_to_end``."""
    words = text.split()
    steps: list[tuple[str, dict[str, object]]] = []
    if index % 20 == 19:
        steps.append(
            (
                "core_memory_append",
                {
                    "label": "human",
                    "content": f"Fact {index}: {' '.join(words[:6])}",
                    "request_heartbeat": True,
                },
            )
        )
    if index % 50 == 49:
        steps.append(
            (
                "conversation_search",
                {"query": " ".join(words[:3]) or "hello", "request_heartbeat": True},
            )
        )
    reply = f"Thanks for telling me about {' '.join(words[:4])}."
    steps.append(("send_message", {"message": reply}))
    return steps


class TimedScriptedModel:
    """Zero-latency scripted behaviour; records the time spent inside the model."""

    def __init__(self) -> None:
        self.requests: list[ChatRequest] = []
        self.model_seconds = 0.0
        self.turn = 0
        self.plan: Iterator[ChatResponse] = iter(())

    def start_turn(self, index: int, text: str) -> None:
        self.plan = iter([call(name, **arguments) for name, arguments in rhythm(index, text)])

    async def complete(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        self.requests.append(request)
        response = next(self.plan)
        self.model_seconds += time.perf_counter() - started
        return response


def fixed_prompt(h: Harness, counter: TokenCounter) -> dict[str, int]:
    layout = h.runtime.layout
    default_memory = WorkingContext(
        blocks=(
            MemoryBlock(
                label="persona", value=h.runtime.prompts.persona, limit=h.settings.block_limit
            ),
            MemoryBlock(label="human", value="", limit=h.settings.block_limit),
        )
    )
    instructions = counter.count(layout.instructions)
    tools = sum(counter.count_json(tool_wire(t)) + 8 for t in layout.tools)
    memory = counter.count(default_memory.render()) + 2
    return {
        "system instructions": instructions + TOKENS_PER_MESSAGE,
        "tool schemas": tools,
        "default working context": memory,
        "reply priming": TOKENS_PER_REPLY,
        "total": instructions + TOKENS_PER_MESSAGE + tools + memory + TOKENS_PER_REPLY,
    }


def prefix_reuse(requests: list[ChatRequest], counter: TokenCounter) -> list[float]:
    """For each call after the first: longest common token prefix with the previous call's
    prompt, over this call's prompt length. Prompts are tokenised message by message (chat
    templates separate messages with special tokens, so tokens never merge across them)."""
    cache: dict[int, list[int]] = {}

    def tokens(message: PromptMessage) -> list[int]:
        key = id(message)
        if key not in cache:
            calls = "".join(f"{c.name}{c.arguments}" for c in message.tool_calls)
            cache[key] = counter.encode(f"<|{message.role}|>{message.content}{calls}<|end|>")
        return cache[key]

    tool_tokens = counter.encode(json.dumps([tool_wire(t) for t in requests[0].tools]))
    ratios = []
    for before, after in itertools.pairwise(requests):
        common = len(tool_tokens) if before.tools == after.tools else 0
        total = len(tool_tokens) + sum(len(tokens(m)) for m in after.messages)
        for a, b in zip(before.messages, after.messages, strict=False):
            if a == b:
                common += len(tokens(b))
                continue
            ta, tb = tokens(a), tokens(b)
            n = 0
            while n < min(len(ta), len(tb)) and ta[n] == tb[n]:
                n += 1
            common += n
            break
        ratios.append(common / total)
    return ratios


async def run(messages: int, locomo: Path = LOCOMO) -> None:
    texts, source = user_texts(messages, locomo)
    model = TimedScriptedModel()
    # The function set `pagemind run` offers by default: MemGPT's and the check-in functions.
    tools = register_checkin_tools(register_memgpt_tools(ToolRegistry()))
    h = Harness(model, settings=AgentSettings(context_window=128_000), tools=tools)  # type: ignore[arg-type]
    counter = h.counter
    overheads: list[float] = []
    gc.collect()
    for i, text in enumerate(texts):
        model.start_turn(i, text)
        calls_before, model_before = len(model.requests), model.model_seconds
        started = time.perf_counter()
        await h.send(text)
        elapsed = time.perf_counter() - started
        calls = len(model.requests) - calls_before
        own = elapsed - (model.model_seconds - model_before)
        overheads.extend([own / calls * 1000] * calls)
    session = await h.runtime.session("agent-1")
    assert session.state.summary_upto_seq == 0, "the conversation flushed: use a larger window"
    fixed = fixed_prompt(h, TokenCounter(encoding="cl100k_base"))
    ratios = prefix_reuse([r for r in model.requests if r.purpose == "turn"], counter)
    q = statistics.quantiles(overheads, n=100)
    p50, p95, p99 = statistics.median(overheads), q[94], q[98]
    reuse = statistics.fmean(ratios)
    last_tokens = h.runtime.layout.fixed_tokens + session.system()[1] + session.fifo_tokens

    pym, letta = REFERENCE["pymemgpt 0.3.25"], REFERENCE["Letta 0.16.8"]
    rows = [
        ("core overhead per LLM call, p50 (ms)", f"{p50:.3f}", "<= 2", pym[0], letta[0]),
        ("core overhead per LLM call, p95 / p99 (ms)", f"{p95:.3f} / {p99:.3f}", "", "", ""),
        ("fixed prompt, cl100k tokens", f"{fixed['total']:,}", "<= 1,800", pym[1], letta[1]),
        ("prefix reuse, mean over calls", f"{reuse:.4f}", ">= 0.98", pym[2], letta[2]),
        ("prefix reuse, worst call", f"{min(ratios):.4f}", "", "", ""),
    ]
    print(f"Conversation: {len(texts)} user messages ({source}), {len(model.requests)} LLM calls,")
    print(
        f"final prompt {last_tokens:,} tokens, no flush; reuse counted in {counter.encoding_name}."
    )
    print()
    print("| measure | Pagemind | target | pymemgpt 0.3.25 | Letta 0.16.8 |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print("| fixed prompt part | cl100k tokens |")
    print("|---|---|")
    for part, n in fixed.items():
        print(f"| {part} | {n:,} |")
    print()
    print(
        f"overhead_ms_p50={p50:.3f} prompt_fixed_tokens={fixed['total']} prefix_reuse={reuse:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--locomo", type=Path, default=LOCOMO, help="the LoCoMo JSON file")
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.locomo))


if __name__ == "__main__":
    main()
