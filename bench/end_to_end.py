"""End to end: what one user message costs Pagemind, at message 5 and at message 500.

The service is built by the composition root exactly as ``pagemind chat`` builds it
(``bots.bootstrap.bootstrap`` from settings read from the environment): the real
``OpenAICompatibleChatModel`` (the ``openai`` SDK) over HTTP to a local OpenAI-compatible
server that answers at once, and the embedded nx-27017 started the way the product starts
it (a child process on a data directory), then, in the same run, the in-memory stores. The
server is a scripted test double in its own process (``bench.model_process``); it
plays ``bench.turn_overhead``'s agent: a reply to every message, a working-context edit
every 20th and a recall search every 50th (each a chained call). User messages are LoCoMo
turns when ``../shared/data/locomo-dev.json`` is present. Model ``gpt-4o-mini`` (tokens
counted in o200k_base), 128k window, no flush in 500 messages.

    python -m bench.end_to_end [--messages 500] [--stores nx,memory] [--repeats 3]
        [--idle 20] [--no-chat] [--profile FILE] [--locomo PATH]

Each store's conversation runs ``--repeats`` times, each on a fresh data directory and
server; the tables show the conversation whose growth is the median, the summary line the
medians over the repeats (on this 2-core machine one conversation's growth ratio moves by
+-0.3 between runs of the same code).

Measured:

* own time: wall time of a user message (``submit_and_wait``, as the console does) minus
  the time the model server spent on the message's requests, measured inside the server
  (from the start of its handler, body read included, to its response, the parsed body
  freed). What is left is Pagemind: building the request, the SDK, HTTP on both sides of
  the loopback, storage.
* database commands: PyMongo command monitoring (``pymongo.monitoring.register``, so the
  client the composition root builds is monitored as it is); per plain user message (one
  LLM call; the median from the sixth message on, after the agent is created and leased),
  and per second while the service sits idle after the conversation (its background
  polling: inbox, leases, check-ins; server heartbeats are not commands).
* CPU: of this process per message (``time.process_time``) and of nx-27017 (from /proc,
  counted in 10 ms ticks, so only as means over 50 messages).
* peak RSS (``bench.chat_process``): a real ``pagemind chat`` process fed the same
  conversation through a pipe,
  with its embedded nx-27017: the peak resident set (VmHWM) of each, summed, and the
  largest sum seen by sampling both every 0.1 s.

Last line: own_ms_p50=<x> own_ms_last50_over_first50=<r> db_commands_per_msg=<n>
idle_db_commands_per_s=<i> peak_rss_mib=<m> (nx-27017 numbers, own time and growth the
medians over the repeats; RSS from ``pagemind chat``)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import itertools
import os
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pymongo import monitoring

from bench.chat_process import ChatMemory, bench_env, chat_memory, server_pid
from bench.model_process import MODEL, ModelProcess
from bench.turn_overhead import LOCOMO, rhythm, user_texts
from core.events import SendReply

AGENT = "console:bench"
MAIN_TASK = "bench-conversation"


# ---------------------------------------------------------------------- measuring


@dataclass
class CommandCounter(monitoring.CommandListener):
    """Every command any client of this process sends while ``counting``: those sent by the
    message's own tasks (the one that submits it, the agent's worker) in ``commands``, the
    background polling that happens to run meanwhile in ``background``."""

    counting: bool = False
    commands: Counter[str] = field(default_factory=Counter)
    background: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0  # driver-side time of the message's own commands
    _own: set[int] = field(default_factory=set)  # request ids of the message's commands

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.counting:
            return
        collection = event.command.get(event.command_name)
        where = f" {collection}" if isinstance(collection, str) else ""
        task = asyncio.current_task()
        name = task.get_name() if task is not None else ""
        own = name in (MAIN_TASK, f"agent:{AGENT}")
        (self.commands if own else self.background)[f"{event.command_name}{where}"] += 1
        if own:
            self._own.add(event.request_id)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.request_id in self._own:
            self._own.discard(event.request_id)
            self.seconds += event.duration_micros / 1e6

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.succeeded(event)  # type: ignore[arg-type]

    def take(self) -> tuple[Counter[str], float]:
        """The message's own commands since the last call, and their driver-side time (the
        background ones are kept)."""
        taken, self.commands = self.commands, Counter()
        seconds, self.seconds = self.seconds, 0.0
        return taken, seconds

    def take_all(self) -> Counter[str]:
        taken = self.commands + self.background
        self.commands, self.background = Counter(), Counter()
        return taken


COMMANDS = CommandCounter()
monitoring.register(COMMANDS)


@dataclass
class Sent:
    kind: str  # "plain", "edit", "search", "edit+search"
    wall: float
    model: float = 0.0
    calls: int = 0
    commands: int = 0
    started: float = 0.0
    ended: float = 0.0
    cpu: float = 0.0  # CPU seconds of this process during the message
    db_cpu: float = 0.0  # CPU seconds of the nx-27017 process during the message
    db_seconds: float = 0.0  # driver-side time of the message's database commands

    @property
    def own_ms(self) -> float:
        return (self.wall - self.model) * 1000


@dataclass
class Run:
    store: str
    sent: list[Sent]
    background: int = 0  # background commands that ran during the conversation
    idle_seconds: float = 0.0
    idle: Counter[str] = field(default_factory=Counter)
    growths: list[float] = field(default_factory=list)  # of every repeat of the conversation
    p50s: list[float] = field(default_factory=list)  # own time p50 of every repeat


class Profiles:
    """Two profiles of this process: the first 50 messages and the last 50."""

    def __init__(self) -> None:
        self.first, self.last = cProfile.Profile(), cProfile.Profile()

    def of(self, index: int, messages: int) -> cProfile.Profile | None:
        if index < 50:
            return self.first
        return self.last if index >= messages - 50 else None

    def dump(self, path: Path) -> None:
        self.first.dump_stats(f"{path}.first50")
        self.last.dump_stats(f"{path}.last50")


def kind(index: int) -> str:
    steps = {name for name, _ in rhythm(index, "x")}
    edit, search = "core_memory_append" in steps, "conversation_search" in steps
    return {(False, False): "plain", (True, False): "edit", (False, True): "search"}.get(
        (edit, search), "edit+search"
    )


def attribute(sent: list[Sent], served: list[tuple[float, float]]) -> None:
    """Give each served request to the message whose wall time contains its arrival."""
    i = 0
    for arrived, seconds in sorted(served):
        while i < len(sent) and sent[i].ended < arrived:
            i += 1
        if i < len(sent) and sent[i].started <= arrived:
            sent[i].model += seconds
            sent[i].calls += 1


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class Replies:
    def __init__(self) -> None:
        self.count = 0

    async def send(self, reply: SendReply) -> None:
        self.count += 1


async def converse(store: str, texts: list[str], idle: float, profile: Profiles | None) -> Run:
    from bots.bootstrap import bootstrap
    from config.settings import load_settings
    from core.events import Address, UserMessageReceived

    console = Address(platform="console", channel_id="console", is_direct=True)  # as in chat

    replies = Replies()
    with tempfile.TemporaryDirectory(prefix="pagemind-bench-e2e-") as tmp:
        async with ModelProcess() as model:
            with environment(bench_env(model.base_url, Path(tmp), store)):
                settings = load_settings()
            async with bootstrap(settings, replies=replies) as svc:
                server = server_pid(Path(tmp))
                sent: list[Sent] = []
                for i, text in enumerate(texts):
                    event = UserMessageReceived(
                        event_id=f"console:{uuid.uuid4().hex}",
                        agent_key=AGENT,
                        occurred_at=svc.clock.now(),
                        text=text,
                        author_name="bench",
                        reply_to=console,
                    )
                    COMMANDS.take()
                    COMMANDS.counting = True
                    profiler = profile.of(i, len(texts)) if profile is not None else None
                    if profiler is not None:
                        profiler.enable()
                    db_cpu, cpu = cpu_seconds(server), time.process_time()
                    started = time.monotonic()
                    await svc.dispatcher.submit_and_wait(event)
                    ended = time.monotonic()
                    cpu, db_cpu = time.process_time() - cpu, cpu_seconds(server) - db_cpu
                    if profiler is not None:
                        profiler.disable()
                    COMMANDS.counting = False
                    commands, db_seconds = COMMANDS.take()
                    sent.append(
                        Sent(
                            kind(i),
                            ended - started,
                            commands=sum(commands.values()),
                            started=started,
                            ended=ended,
                            cpu=cpu,
                            db_cpu=db_cpu,
                            db_seconds=db_seconds,
                        )
                    )
                run = Run(store, sent, sum(COMMANDS.take_all().values()))
                if idle > 0:
                    await asyncio.sleep(2)  # let the last turn's background work settle
                    COMMANDS.counting = True
                    started = time.monotonic()
                    await asyncio.sleep(idle)
                    run.idle_seconds = time.monotonic() - started
                    COMMANDS.counting = False
                    run.idle = COMMANDS.take_all()
            attribute(sent, await model.served())
    assert replies.count >= len(texts), f"{replies.count} replies to {len(texts)} messages"
    return run


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 for no process)."""
    if not pid:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------- report


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cell(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} / {pct(values, 0.95):.1f}" if values else "-"


def report(runs: list[Run], chat: ChatMemory | None, source: str, messages: int) -> None:
    print(
        f"{messages} user messages ({source}), model {MODEL} over HTTP answering at once, "
        "128k window; the service built by bots.bootstrap.bootstrap."
    )
    print()
    names = {"nx": "nx-27017", "memory": "in memory"}
    print("| ms per user message, p50 / p95 | " + " | ".join(names[r.store] for r in runs) + " |")
    print("|---|" + "---|" * len(runs))
    for label, pick in (
        ("own time, first 50", lambda s: s[:50]),
        ("own time, last 50", lambda s: s[-50:]),
        ("own time, whole run", lambda s: s),
        ("own time, plain messages (one LLM call)", lambda s: [x for x in s if x.kind == "plain"]),
    ):
        print(
            f"| {label} | "
            + " | ".join(cell([x.own_ms for x in pick(r.sent)]) for r in runs)
            + " |"
        )
    rows = [
        ("wall time, whole run", lambda r: cell([x.wall * 1000 for x in r.sent])),
        ("in the model server, whole run", lambda r: cell([x.model * 1000 for x in r.sent])),
        (
            "database commands, driver-side, first 50",
            lambda r: cell([x.db_seconds * 1000 for x in r.sent[:50]]),
        ),
        (
            "database commands, driver-side, last 50",
            lambda r: cell([x.db_seconds * 1000 for x in r.sent[-50:]]),
        ),
        ("in the model server, first 50", lambda r: cell([x.model * 1000 for x in r.sent[:50]])),
        ("in the model server, last 50", lambda r: cell([x.model * 1000 for x in r.sent[-50:]])),
        ("CPU of this process, first 50", lambda r: cell([x.cpu * 1000 for x in r.sent[:50]])),
        ("CPU of this process, last 50", lambda r: cell([x.cpu * 1000 for x in r.sent[-50:]])),
        ("CPU of nx-27017, mean: first 50 / last 50", db_cpu),
        ("own time last 50 / first 50 (medians)", lambda r: f"{growth(r):.2f}"),
        ("own time last 50 / first 50, each conversation", each_growth),
        ("own time p50, each conversation", lambda r: ", ".join(f"{x:.2f}" for x in r.p50s)),
        ("LLM calls", lambda r: str(sum(x.calls for x in r.sent))),
        ("database commands per plain message, median", lambda r: f"{per_plain(r):g}"),
        ("database commands of the messages", lambda r: str(sum(x.commands for x in r.sent))),
        ("background database commands meanwhile", lambda r: str(r.background)),
        ("idle: database commands per second", lambda r: f"{idle_rate(r):.2f}"),
    ]
    for label, show in rows:
        print(f"| {label} | " + " | ".join(show(r) for r in runs) + " |")
    for r in runs:
        if r.idle:
            detail = ", ".join(f"{n} {c}" for c, n in r.idle.most_common())
            print(f"\nIdle {names[r.store]}, {r.idle_seconds:.0f} s: {detail}.")
    if chat is not None:
        print()
        print("| `pagemind chat` fed the same messages through a pipe | value |")
        print("|---|---|")
        print(f"| peak RSS, pagemind chat (MiB) | {chat.chat_peak_kib / 1024:.1f} |")
        print(f"| peak RSS, its nx-27017 (MiB) | {chat.server_peak_kib / 1024:.1f} |")
        print(f"| peak RSS, both: sum of the peaks (MiB) | {chat.peak_mib:.1f} |")
        print(f"| peak RSS, both: largest sampled sum (MiB) | {chat.sampled_peak_kib / 1024:.1f} |")
        print(f"| own time per message, p50 / p95 (ms) | {cell(chat.own_ms)} |")
        print(f"| messages answered, seconds | {chat.replies}, {chat.seconds:.1f} |")
    nx = next((r for r in runs if r.store == "nx"), runs[0])
    print()
    print(
        f"own_ms_p50={statistics.median(nx.p50s):.2f} "
        f"own_ms_last50_over_first50={statistics.median(nx.growths):.2f} "
        f"db_commands_per_msg={per_plain(nx):g} "
        f"idle_db_commands_per_s={idle_rate(nx):.2f} "
        f"peak_rss_mib={chat.peak_mib if chat else float('nan'):.1f}"
    )


def representative(repeats: list[Run]) -> Run:
    """The conversation whose growth is the median of the repeats, carrying every repeat's
    growth and p50 (one conversation's ratio moves by +-0.3 between identical runs here:
    the machine's speed drifts over the seconds between its first and last 50 messages)."""
    ordered = sorted(repeats, key=growth)
    chosen = ordered[(len(ordered) - 1) // 2]
    chosen.growths = [growth(r) for r in repeats]
    chosen.p50s = [statistics.median(x.own_ms for x in r.sent) for r in repeats]
    chosen.idle_seconds, chosen.idle = repeats[-1].idle_seconds, repeats[-1].idle
    return chosen


def db_cpu(run: Run) -> str:
    """nx-27017's CPU per message (the kernel counts it in 10 ms ticks: means only)."""
    first, last = run.sent[:50], run.sent[-50:]
    mean = [sum(x.db_cpu for x in part) * 1000 / len(part) for part in (first, last)]
    return f"{mean[0]:.1f} / {mean[1]:.1f}" if run.store == "nx" else "-"


def each_growth(run: Run) -> str:
    return ", ".join(f"{x:.2f}" for x in run.growths)


def growth(run: Run) -> float:
    own = [x.own_ms for x in run.sent]
    return statistics.median(own[-50:]) / statistics.median(own[:50])


def per_plain(run: Run) -> float:
    plain = [x.commands for x in run.sent[5:] if x.kind == "plain"]
    return statistics.median(plain) if plain else 0.0


def idle_rate(run: Run) -> float:
    return sum(run.idle.values()) / run.idle_seconds if run.idle_seconds else 0.0


async def main(args: argparse.Namespace) -> None:
    texts, source = user_texts(args.messages, args.locomo)
    profile = Profiles() if args.profile else None
    runs = []
    for store in args.stores.split(","):
        repeats = []
        for n in range(args.repeats):
            idle = args.idle if n == args.repeats - 1 else 0.0  # counted once, at the end
            profiled = profile if store == "nx" and n == 0 else None
            conversation = converse(store, texts, idle, profiled)
            repeats.append(await asyncio.create_task(conversation, name=MAIN_TASK))
        runs.append(representative(repeats))
    if profile is not None:
        profile.dump(args.profile)
    chat = None if args.no_chat else await chat_memory(texts)
    if chat is not None:
        sent = [Sent("", b - a, started=a, ended=b) for a, b in itertools.pairwise(chat.answered)]
        attribute(sent, chat.served)
        chat.own_ms = [s.own_ms for s in sent]
    report(runs, chat, source, len(texts))


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--stores", default="nx,memory", help="nx, memory or both")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds to count idle commands")
    parser.add_argument("--no-chat", action="store_true", help="skip the pagemind chat RSS run")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="conversations per store (odd); the summary takes the median of their numbers "
        "(--profile profiles the first nx-27017 one)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="cProfile the first and the last 50 nx-27017 messages into FILE.first50 and "
        "FILE.last50 (compare them to see what grows)",
    )
    parser.add_argument("--locomo", type=Path, default=LOCOMO, help="the LoCoMo JSON file")
    args = parser.parse_args()
    if args.repeats < 1 or args.repeats % 2 == 0:
        parser.error("--repeats must be odd: the tables show the median conversation")
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
