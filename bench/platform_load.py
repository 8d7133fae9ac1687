"""Platform load: many users talking at once through the real Telegram and Slack adapters.

N distinct users each send M direct messages (default 1,000 x 5), (1) through the Telegram
Bot API fake to the real ``TelegramAdapter`` in polling mode, and (2) as signed Events API
POSTs from the Slack fake to the real ``SlackAdapter`` in HTTP mode. Behind each adapter runs
the real service exactly as ``pagemind run`` wires it (``bots.bootstrap.bootstrap`` and
``Service.attach``: gateway, reply router and upload intake): gateway -> durable inbox ->
dispatcher -> agent runtime -> reply router -> adapter -> fake. The language model is a
zero-latency scripted model (a test double): every turn is one ``send_message`` that echoes
the message's token, so each reply is matched to its message.

Open loop: messages are offered as fast as the fakes deliver them, in rounds (every user's
first message, then every user's second...). Telegram: all updates are queued in the fake at
once and the adapter long-polls them (100 per getUpdates). Slack: each user posts their
messages one after another (the next once the previous POST was acknowledged), at most
``--concurrency`` POSTs in flight. ``--rate`` paces arrivals instead (messages per second).

Storage: the embedded nx-27017 (the default; a fresh server per run), then the in-memory
stores for comparison. With ``--replicas 2`` (in the default ``1,2``), each platform also
runs on two services sharing one nx-27017, as two replicas behind one bot: Telegram in
webhook mode and Slack HTTP events, each user's messages POSTed to the two in turn, each once
the previous was acknowledged (``bench.replicas``). By default python-telegram-bot's flood
control (30 messages/s per bot, Telegram's own limit) is lifted so the run measures Pagemind,
not Telegram's quota; ``--telegram-flood-control`` keeps it.

    python -m bench.platform_load [--users 1000] [--messages 5] [--platforms telegram,slack]
        [--storage nx,memory] [--replicas 1,2] [--rate 0] [--concurrency 64] [--turns 8]
        [--telegram-flood-control] [--no-profile] [--profile-dir DIR] [--quiet 30]
        [--timeout 900] [--quick]

``--quick`` is 100 users x 3 messages (about a minute for all six runs).

A message is lost when no reply to it reached the fake by the end of its run: the run ends
once everything is answered, or once no reply came for ``--quiet`` seconds while nothing
waits in the fake or unfinished in the inbox, or after ``--timeout`` seconds.

Where the time goes: PyMongo command monitoring (round trips per message and their
duration), the time spent inside the model, CPU time of this process and of nx-27017, and a
py-spy sampling profile of this process (CPU samples by owner: the innermost frame that is
ours, a platform library's or a fake's).

Last line (nx-27017; the worse platform for rate and latency, lost and duplicated summed over
both; out of order summed over every run, as the model saw them and as answered):
msgs_per_s=<x> reply_latency_ms_p99=<y> lost=<n> duplicated=<m> out_of_order=<k>
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
from pymongo import monitoring

from bots.bootstrap import Service, bootstrap
from bots.platforms import Platform, PlatformAdapter, policy_for
from config.platforms import SlackSettings, TelegramSettings
from config.settings import Settings
from core.inbound.gateway import Gateway
from core.inbound.messages import IncomingMessage
from core.ports.model import ChatRequest, ChatResponse
from tests.support.fakes.slack import FakeSlack
from tests.support.fakes.telegram import FakeTelegram, make_user
from tests.support.mongo import nx_server
from tests.support.scripted import ScriptedModel, say

os.environ.setdefault("PTB_TIMEDELTA", "1")  # PTB 22: no deprecation warning on each 429

TOKEN = re.compile(r"\bu(\d{4,})m(\d+)\b")
TELEGRAM_TOKEN = "123456:BENCH-token"
WORDS = (
    "I walked to the river this morning and thought about the garden again",
    "my sister called about the trip to Lisbon next month, we still need tickets",
    "work was long today but the new project finally has a plan",
    "can you remind me what book I said I wanted to read this summer",
    "the rain stopped so I went out for a run and met an old friend",
)
SPY = Path(sys.executable).with_name("py-spy")
log = logging.getLogger("bench.platform_load")


# ---------------------------------------------------------------------------- the model


class EchoModel(ScriptedModel):
    """A zero-latency scripted model (a TEST DOUBLE): every turn is one ``send_message``
    that echoes the token of the message being answered and its first words. Records, per
    agent, the order in which messages reached the model, and the time spent in here."""

    def __init__(self) -> None:
        super().__init__(default=self._echo)
        self.seconds = 0.0
        self.order: dict[str, list[str]] = defaultdict(list)
        self.reached: dict[str, float] = {}  # token -> when the model first saw it

    def _echo(self, request: ChatRequest) -> ChatResponse:
        last = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        found = TOKEN.search(last)
        token = found.group(0) if found else "none"
        self.order[request.agent_key].append(token)
        self.reached.setdefault(token, time.monotonic())
        words = last[found.end() :].split()[:5] if found else []
        return say(f"Got it ({token}): {' '.join(words)}")

    async def complete(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        try:
            response = await super().complete(request)
        finally:
            self.seconds += time.perf_counter() - started
        self.requests.clear()  # nothing reads them; 5,000 prompts need not stay alive
        return response


# --------------------------------------------------------------------- measurement parts


@dataclass
class DbMonitor(monitoring.CommandListener):
    """PyMongo command monitoring: round trips by command and collection, and their time
    (driver-side: from sending the command to decoding the answer)."""

    counting: bool = False
    commands: Counter[str] = field(default_factory=Counter)
    micros: Counter[str] = field(default_factory=Counter)
    _open: dict[int, str] = field(default_factory=dict)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.counting and event.command_name not in ("endSessions", "hello", "ismaster"):
            collection = event.command.get(event.command_name)
            name = f"{event.command_name} {collection}" if isinstance(collection, str) else ""
            self._open[event.request_id] = name or event.command_name

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        name = self._open.pop(event.request_id, None)
        if name is not None:
            self.commands[name] += 1
            self.micros[name] += event.duration_micros

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        name = self._open.pop(event.request_id, None)
        if name is not None:
            self.commands[f"{name} (failed)"] += 1
            self.micros[f"{name} (failed)"] += event.duration_micros

    def reset(self) -> None:
        self.commands.clear()
        self.micros.clear()
        self._open.clear()


class LogCounter(logging.Handler):
    """Counts what the service logs during a run, by message template (nothing is printed):
    warnings and errors, Pagemind's own INFO lines (retries, duplicates dropped...), and the
    Telegram adapter's DEBUG line for a "typing…" that could not be shown."""

    LEVELS: ClassVar[dict[str, int]] = {
        "": logging.WARNING,
        "adapters": logging.INFO,
        "core": logging.INFO,
        "bots": logging.INFO,
        "adapters.telegram_chat.outbound": logging.DEBUG,
    }

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: Counter[str] = Counter()

    def install(self) -> None:
        for name, level in self.LEVELS.items():
            logging.getLogger(name).setLevel(level)
        logging.getLogger().addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.seen[f"{record.levelname} {record.name}: {record.msg}"[:150]] += 1


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used since boot (Linux /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Owners of CPU samples, matched from the innermost frame outwards; frames of generic
# libraries (asyncio, json, pydantic...) are passed over so their cost goes to the caller.
OWNERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("fakes: Telegram / Slack servers, Slack's signed POSTs", ("tests/support/fakes/",)),
    ("scripted model", ("tests/support/scripted.py", "bench/platform_load.py:EchoModel")),
    ("bench: reply scanning", (
        "bench/platform_load.py:ReplyLog", "bench/platform_load.py:wait_for_replies",
    )),
    ("bench: offering messages, observing", ("bench/",)),
    ("storage: adapters/mongo + PyMongo + BSON", ("adapters/mongo/", "pymongo/", "bson/")),
    ("storage: in-memory stores", ("adapters/inmemory/",)),
    ("Telegram: adapter + python-telegram-bot + httpx", (
        "adapters/telegram_chat/", "telegram/", "httpx/", "httpcore/", "h11/", "aiolimiter/",
        "anyio/",
    )),
    ("Slack: adapter + slack-bolt + slack-sdk", (
        "adapters/slack_chat/", "slack_bolt/", "slack_sdk/",
    )),
    ("aiohttp (HTTP client and servers, both sides)", ("aiohttp/", "yarl/", "multidict/")),
    ("core: gateway, dispatcher, agent runtime", ("core/",)),
    ("bots/ (composition root)", ("bots/",)),
    ("logging", ("logging/",)),
)  # fmt: skip
LOOP = "event loop (asyncio, selectors, sockets)"
LOOP_PREFIXES = ("asyncio/", "selectors.py", "socket.py", "ssl.py", "<frozen")
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^():]+):\d+\)$")


def owner(stack: list[str]) -> str:
    """Who a sampled stack's CPU time is for: the innermost frame of a known owner (a frame
    is matched as ``path`` and as ``path:function``)."""
    for frame in reversed(stack):
        found = FRAME.match(frame)
        if found is None:
            continue
        path = found.group("path")
        where = f"{path}:{found.group('function')}"
        for label, prefixes in OWNERS:
            if path.startswith(prefixes) or where.startswith(prefixes):
                return label
    leaf = FRAME.match(stack[-1]) if stack else None
    if leaf and leaf.group("path").startswith(LOOP_PREFIXES):
        return LOOP
    return "other (stdlib, pydantic, start-up)"


class Profiler:
    """py-spy sampling this very process (no pauses: ``--nonblocking``); idle samples are
    left out, so samples measure where the CPU went."""

    def __init__(self, enabled: bool, rate: int = 100, keep: Path | None = None) -> None:
        self.enabled = enabled and SPY.exists()
        self.rate = rate
        self.keep = keep  # where to leave the raw profile (folded stacks), if anywhere
        self._process: subprocess.Popen[bytes] | None = None
        self._out: Path | None = None

    def start(self) -> None:
        if not self.enabled:
            return
        fd, name = tempfile.mkstemp(prefix="pagemind-spy-", suffix=".txt")
        os.close(fd)
        self._out = Path(name)
        self._process = subprocess.Popen(
            [
                str(SPY), "record", "--pid", str(os.getpid()), "--format", "raw",
                "--rate", str(self.rate), "--nonblocking", "-o", name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> Counter[str]:
        samples: Counter[str] = Counter()
        process, out = self._process, self._out
        self._process = self._out = None
        if process is None or out is None:
            return samples
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(OSError):
            for line in out.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                if count.isdigit():
                    samples[owner(stack.split(";"))] += int(count)
        if self.keep is not None:
            self.keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(out, self.keep)
        else:
            out.unlink(missing_ok=True)
        return samples


@dataclass
class Meter:
    """Measures the load phase only (start-up and shutdown excluded): CPU of this process
    and of nx-27017, database commands, and the py-spy profile."""

    db: DbMonitor
    profiler: Profiler
    nx_pid: int = 0
    cpu_self: float = 0.0
    cpu_db: float = 0.0
    cpu_others: float = 0.0  # every other process on the machine (py-spy included)
    seconds: float = 0.0
    samples: Counter[str] = field(default_factory=Counter)
    _started: tuple[float, ...] = ()

    def begin(self) -> None:
        self.db.reset()
        self.db.counting = True
        self.profiler.start()
        self._started = (
            time.process_time(),
            cpu_seconds(self.nx_pid),
            machine_busy_seconds(),
            time.monotonic(),
        )

    def end(self) -> None:
        cpu, db, machine, t0 = self._started
        self.cpu_self = time.process_time() - cpu
        self.cpu_db = cpu_seconds(self.nx_pid) - db if self.nx_pid else 0.0
        self.cpu_others = machine_busy_seconds() - machine - self.cpu_self - self.cpu_db
        self.seconds = time.monotonic() - t0
        self.db.counting = False
        self.samples = self.profiler.stop()


# --------------------------------------------------------------------------- the runs


@dataclass
class Sent:
    user: int
    index: int
    at: float  # time.monotonic() when the fake pushed or started posting it


@dataclass
class Reply:
    token: str | None
    at: float  # time.monotonic() when the fake received the reply


STAGES = (
    "offered -> accepted (adapter, gateway, inbox write)",
    "accepted -> at the model (queued for the agent's turn; agent load, lease)",
    "at the model -> reply at the fake (store the step, deliver)",
)


@dataclass
class Result:
    storage: str
    platform: str
    sent: dict[str, Sent]
    replies: list[Reply]
    processed: dict[str, list[str]]  # agent -> tokens in the order the model saw them
    accepted: dict[str, float]  # token -> when the gateway had recorded and queued it
    reached: dict[str, float]  # token -> when the model first saw it
    handled: Counter[str]  # inbox event id -> times marked done
    start: float  # time.monotonic() of the first message offered
    wall: float  # from the first message offered to the last reply received
    offered_in: float  # how long offering every message took (Slack: acks of all POSTs)
    elapsed: float  # the whole run, shutdown excluded
    model_seconds: float
    cpu_self: float
    cpu_db: float
    cpu_others: float
    db: DbMonitor
    api_calls: Counter[str]
    samples: Counter[str]
    logs: Counter[str]
    timed_out: str

    # ---- derived

    @functools.cached_property
    def first_replies(self) -> dict[str, Reply]:
        first: dict[str, Reply] = {}
        for reply in sorted(self.replies, key=lambda r: r.at):
            if reply.token in self.sent and reply.token not in first:
                first[reply.token] = reply
        return first

    @property
    def lost(self) -> int:
        return len(self.sent) - len(self.first_replies)

    @property
    def duplicated(self) -> int:
        counts = Counter(r.token for r in self.replies if r.token in self.sent)
        return sum(1 for n in counts.values() if n > 1)

    @property
    def reprocessed(self) -> int:
        """Messages the model was asked to answer more than once (processed twice)."""
        seen = Counter(t for tokens in self.processed.values() for t in tokens)
        return sum(1 for t, n in seen.items() if n > 1 and t in self.sent)

    @property
    def rehandled(self) -> int:
        """Events the dispatcher handled (and marked done) more than once."""
        return sum(1 for n in self.handled.values() if n > 1)

    @property
    def strays(self) -> int:
        """Replies that answer no message of this run (notices, apologies...)."""
        return sum(1 for r in self.replies if r.token not in self.sent)

    @property
    def first_reply(self) -> float:
        """Seconds from the first message offered to the first reply."""
        first = min((r.at for r in self.first_replies.values()), default=float("nan"))
        return first - self.start

    @property
    def msgs_per_s(self) -> float:
        return len(self.first_replies) / self.wall if self.wall > 0 else 0.0

    @property
    def latencies_ms(self) -> list[float]:
        return [(r.at - self.sent[t].at) * 1000 for t, r in self.first_replies.items()]

    def stages(self) -> dict[str, list[float]]:
        """Per message, the milliseconds spent in each stage of ``STAGES``."""
        out: dict[str, list[float]] = {label: [] for label in STAGES}
        for token, reply in self.first_replies.items():
            accepted, reached = self.accepted.get(token), self.reached.get(token)
            if accepted is None or reached is None:
                continue
            times = (self.sent[token].at, accepted, reached, reply.at)
            for label, a, b in zip(STAGES, times, times[1:], strict=False):
                out[label].append((b - a) * 1000)
        return out

    def order_violations(self) -> tuple[int, int, int]:
        """Per user, messages that came after a later message of the same user: as accepted
        by the gateway (recorded in the inbox and queued), as seen by the model, and as
        answered (reply received by the fake)."""
        accepted = self._late_by_user({t: at for t, at in self.accepted.items() if t in self.sent})
        answered = self._late_by_user({t: r.at for t, r in self.first_replies.items()})
        seen = sum(
            _late([self.sent[t].index for t in tokens if t in self.sent])
            for tokens in self.processed.values()
        )
        return accepted, seen, answered

    def _late_by_user(self, times: dict[str, float]) -> int:
        by_user: dict[int, list[int]] = defaultdict(list)
        for token in sorted(times, key=times.__getitem__):
            by_user[self.sent[token].user].append(self.sent[token].index)
        return sum(_late(seq) for seq in by_user.values())


def _late(sequence: list[int]) -> int:
    late, highest = 0, -1
    for value in sequence:
        if value < highest:
            late += 1
        highest = max(highest, value)
    return late


def token_of(user: int, index: int) -> str:
    return f"u{user:04d}m{index}"


def text_of(user: int, index: int) -> str:
    return f"{token_of(user, index)} {WORDS[(user + index) % len(WORDS)]}"


def schedule(users: int, rate: float) -> Callable[[int, int], float]:
    """Seconds after the start at which a message is offered: all at once (rate 0), or one
    every 1/rate seconds in rounds."""
    return lambda user, index: (index * users + user) / rate if rate > 0 else 0.0


@contextlib.contextmanager
def telegram_flood_control(keep: bool) -> Iterator[None]:
    """Unless ``keep``: python-telegram-bot's limiter without its rates (it then passes every
    request straight through). Everything else about the adapter stays as shipped."""
    if keep:
        yield
        return
    from adapters.telegram_chat import connection

    original = connection.FloodControl

    class Unthrottled(original):  # type: ignore[misc, valid-type]
        def __init__(self, max_retries: int = 0) -> None:
            super().__init__(overall_max_rate=0, group_max_rate=0, max_retries=max_retries)

    connection.FloodControl = Unthrottled  # type: ignore[misc]
    try:
        yield
    finally:
        connection.FloodControl = original  # type: ignore[misc]


@asynccontextmanager
async def pagemind(
    settings: Settings,
    model: EchoModel,
    platform_name: str,
    platform_settings: TelegramSettings | SlackSettings,
    probe: Probe,
) -> AsyncIterator[tuple[Service, PlatformAdapter]]:
    """The service and one started platform, wired the way ``bots.run.run`` wires them
    (``bots.bootstrap.bootstrap`` and ``Service.attach``), observed by ``probe``."""
    platform = Platform(platform_name, platform_settings)
    policies = {platform.name: policy_for(platform_settings)}
    async with bootstrap(settings, model=model, policies=policies) as svc:
        probe.attach(svc.gateway, svc)
        adapter = platform.build(svc.gateway, svc.gateway.policy(platform.name))
        svc.attach(platform.name, adapter)
        await adapter.start()
        try:
            yield svc, adapter
        finally:
            await adapter.stop()
            await svc.intakes.aclose()


@dataclass
class Probe:
    """What the bench observes inside the service: when the gateway had accepted each
    message (written to the inbox and queued), and how often each event was marked done in
    the inbox (once per time the dispatcher handled it)."""

    accepted: dict[str, float] = field(default_factory=dict)  # token -> time
    handled: Counter[str] = field(default_factory=Counter)  # event id -> times

    def attach(self, gateway: Gateway, svc: Service) -> None:
        """Wrap two bound methods of these instances; the code they run is unchanged."""
        receive, mark_done = gateway.receive, svc.storage.inbox.mark_done

        async def received(message: IncomingMessage, bot_username: str | None = None) -> Any:
            result = await receive(message, bot_username)
            found = TOKEN.search(message.text)
            if found and result.status == "accepted":
                self.accepted.setdefault(found.group(0), time.monotonic())
            return result

        async def marked(event_id: str, *, error: str | None = None) -> None:
            await mark_done(event_id, error=error)
            self.handled[event_id] += 1

        gateway.receive = received  # type: ignore[method-assign]
        svc.storage.inbox.mark_done = marked  # type: ignore[method-assign]


@dataclass
class Options:
    users: int
    messages: int
    platforms: list[str]
    storages: list[str]
    rate: float
    concurrency: int
    flood_control: bool
    profile: bool
    quiet: float
    timeout: float
    turns: int
    profile_dir: Path | None
    replicas: list[int]


@dataclass
class Outcome:
    """What a platform run hands back: what was offered and when, and what the fake got."""

    sent: dict[str, Sent]
    replies: list[Reply]
    start: float
    offered_in: float
    stalled: str  # why the wait ended early ("quiet", "timeout"), or ""
    calls: Counter[str]
    probe: Probe


async def wait_for_replies(
    expected: set[str],
    replies: Callable[[], list[Reply]],
    svc: Service,
    undelivered: Callable[[], int],
    opts: Options,
) -> str:
    """Wait until every message has a reply and the dispatcher is idle (then one more
    second, for late duplicates): "". Or until no reply came for ``opts.quiet`` seconds
    while nothing is left to do (nothing waits in the fake, ``undelivered()``, nor
    unfinished in the inbox), so what has no reply is lost: "quiet". Or until
    ``opts.timeout`` seconds after the start: "timeout"."""
    started = last_change = time.monotonic()
    last_count = -1
    while True:
        await asyncio.sleep(0.5)
        got = replies()
        now = time.monotonic()
        if len(got) != last_count:
            last_count, last_change = len(got), now
        if len(got) >= len(expected) and expected <= {r.token for r in got}:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(opts.quiet):
                    await svc.dispatcher.join()
            await asyncio.sleep(1.0)
            return ""
        if now - started > opts.timeout:
            return "timeout"
        if now - last_change > opts.quiet:
            unfinished = await svc.storage.inbox.pending(limit=1)
            if not unfinished and not undelivered():
                return "quiet"


class ReplyLog:
    """The replies a fake recorded, each call parsed once (its call list only grows, though
    the Telegram fake inserts calls in arrival order, not always at the end)."""

    def __init__(self, calls: list[Any], pick: Callable[[Any], str | None]) -> None:
        self._calls = calls
        self._pick = pick  # the reply's text, or None if the call is not a delivered reply
        self._seen: set[int] = set()
        self.replies: list[Reply] = []

    def __call__(self) -> list[Reply]:
        fresh = [c for c in self._calls if id(c) not in self._seen]
        for call in fresh:
            self._seen.add(id(call))
            text = self._pick(call)
            if text is not None:
                found = TOKEN.search(text)
                self.replies.append(Reply(found.group(0) if found else None, call.at))
        return self.replies


async def run_telegram(
    opts: Options, settings: Settings, model: EchoModel, meter: Meter
) -> Outcome:
    users = [make_user(1_000_000 + u, f"User{u}", f"user{u:04d}") for u in range(opts.users)]
    when = schedule(opts.users, opts.rate)
    sent: dict[str, Sent] = {}
    probe = Probe()
    async with FakeTelegram(bot_username="pagemind_bot") as tg:
        tg_settings = TelegramSettings(
            _env_file=None,  # type: ignore[call-arg]
            token=TELEGRAM_TOKEN,
            api_base_url=f"http://127.0.0.1:{tg.port}",
            mode="polling",
        )

        def sent_text(call: Any) -> str | None:
            ok = call.ok and call.method == "sendMessage"
            return str(call.params.get("text", "")) if ok else None

        replies = ReplyLog(tg.calls, sent_text)
        with telegram_flood_control(opts.flood_control):
            async with pagemind(settings, model, "telegram", tg_settings, probe) as (
                svc,
                _,
            ):
                await tg.wait_until_polling()
                meter.begin()
                start = time.monotonic()
                for index in range(opts.messages):
                    for user in range(opts.users):
                        delay = start + when(user, index) - time.monotonic()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        elif user % 100 == 0:
                            await asyncio.sleep(0)  # let the service run between batches
                        tg.push_private_message(text_of(user, index), user=users[user])
                        sent[token_of(user, index)] = Sent(user, index, time.monotonic())
                offered = time.monotonic() - start
                stalled = await wait_for_replies(
                    set(sent), replies, svc, lambda: len(tg.pending_updates), opts
                )
                meter.end()
        calls = Counter(c.method for c in tg.calls if c.ok)
        return Outcome(sent, replies(), start, offered, stalled, calls, probe)


async def post_in_turn(
    opts: Options,
    start: float,
    when: Callable[[int, int], float],
    sent: dict[str, Sent],
    statuses: Counter[int],
    post: Callable[[int, int], Awaitable[int]],
) -> None:
    """Every user's messages, each POSTed (``post(user, index)``, returning the HTTP status)
    once the previous one of that user was acknowledged, at most ``opts.concurrency`` in
    flight."""
    slots = asyncio.Semaphore(opts.concurrency)

    async def user_posts(user: int) -> None:
        for index in range(opts.messages):
            delay = start + when(user, index) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            async with slots:
                at = time.monotonic()
                status = await post(user, index)
            statuses[status] += 1
            sent[token_of(user, index)] = Sent(user, index, at)

    await asyncio.gather(*(user_posts(u) for u in range(opts.users)))


async def run_slack(opts: Options, settings: Settings, model: EchoModel, meter: Meter) -> Outcome:
    when = schedule(opts.users, opts.rate)
    sent: dict[str, Sent] = {}
    probe = Probe()
    statuses: Counter[int] = Counter()
    async with FakeSlack() as slack:
        ids = [f"U{u:08d}" for u in range(opts.users)]
        for u, user_id in enumerate(ids):
            slack.add_user(user_id, f"user{u:04d}", real_name=f"User {u}")
            slack.add_im(f"D{u:08d}", user_id)
        sl_settings = SlackSettings(
            _env_file=None,  # type: ignore[call-arg]
            bot_token=slack.bot_token,
            signing_secret=slack.signing_secret,
            mode="http",
            http_listen="127.0.0.1",
            http_port=0,
            api_base_url=slack.api_url,
        )

        def posted_text(call: Any) -> str | None:
            ok = call.method == "chat.postMessage" and call.error is None
            return str(call.args.get("text", "")) if ok else None

        replies = ReplyLog(slack.calls, posted_text)
        async with pagemind(settings, model, "slack", sl_settings, probe) as (
            svc,
            adapter,
        ):
            url = adapter.events_url  # type: ignore[attr-defined]
            assert isinstance(url, str)
            connector = aiohttp.TCPConnector(limit=opts.concurrency)
            async with aiohttp.ClientSession(connector=connector) as session:

                async def post(user: int, index: int) -> int:
                    event = slack.message_event(
                        text_of(user, index), channel=f"D{user:08d}", user=ids[user]
                    )
                    payload = slack.event_callback(event)
                    return (await slack.post_event(url, payload, session=session)).status

                meter.begin()
                start = time.monotonic()
                await post_in_turn(opts, start, when, sent, statuses, post)
                offered = time.monotonic() - start
            stalled = await wait_for_replies(set(sent), replies, svc, lambda: 0, opts)
            await adapter.join()  # type: ignore[attr-defined]
            meter.end()
        calls = Counter(c.method for c in slack.calls if c.error is None)
        calls.update({f"events POST answered {s}": n for s, n in statuses.items()})
        return Outcome(sent, replies(), start, offered, stalled, calls, probe)


async def one_run(
    opts: Options,
    storage: str,
    platform: str,
    db: DbMonitor,
    logs: LogCounter,
    replicas: int = 1,
) -> Result:
    """One platform on one storage, in a fresh service (and a fresh nx-27017); with
    ``replicas=2``, two services on that nx-27017 (``bench.replicas``)."""
    model = EchoModel()
    workdir = Path(tempfile.mkdtemp(prefix="pagemind-load-"))
    label = platform if replicas == 1 else f"{platform}, {replicas} replicas"
    keep = opts.profile_dir / f"{storage}-{label}.folded" if opts.profile_dir else None
    meter = Meter(db, Profiler(opts.profile, keep=keep))
    try:
        with contextlib.ExitStack() as stack:
            values: dict[str, Any] = {
                "data_dir": workdir / "data",
                "storage": "memory",
                "max_concurrent_turns": opts.turns,
            }
            if storage == "nx-27017":
                (workdir / "nx").mkdir()
                uri = stack.enter_context(nx_server(workdir / "nx"))
                meter.nx_pid = int((workdir / "nx" / "nx.pid").read_text().strip() or 0)
                values = {**values, "storage": "mongodb", "mongodb_uri": uri}
            settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
            print(f"  {storage} / {label}: running...", file=sys.stderr, flush=True)
            logs.seen.clear()
            runner = run_telegram if platform == "telegram" else run_slack
            if replicas > 1:
                from bench import replicas as two

                runner = two.run_telegram if platform == "telegram" else two.run_slack
            outcome = await runner(opts, settings, model, meter)
        last = max((r.at for r in outcome.replies), default=outcome.start)
        result = Result(
            storage=storage,
            platform=label,
            sent=outcome.sent,
            replies=outcome.replies,
            processed=dict(model.order),
            accepted=outcome.probe.accepted,
            handled=outcome.probe.handled,
            reached=dict(model.reached),
            start=outcome.start,
            wall=last - outcome.start,
            offered_in=outcome.offered_in,
            elapsed=meter.seconds,
            model_seconds=model.seconds,
            cpu_self=meter.cpu_self,
            cpu_db=meter.cpu_db,
            cpu_others=meter.cpu_others,
            db=DbMonitor(commands=Counter(db.commands), micros=Counter(db.micros)),
            api_calls=outcome.calls,
            samples=meter.samples,
            logs=Counter(logs.seen),
            timed_out=outcome.stalled,
        )
        print(
            f"  {storage} / {label}: {len(result.first_replies)}/{len(result.sent)} "
            f"answered in {result.wall:.1f} s ({result.msgs_per_s:.0f}/s), lost "
            f"{result.lost}, duplicated {result.duplicated}",
            file=sys.stderr,
            flush=True,
        )
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------------------ report


def pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def table(header: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


def report(opts: Options, results: list[Result]) -> None:
    names = [f"{r.storage} / {r.platform}" for r in results]
    print(
        f"{opts.users:,} users x {opts.messages} messages per platform, open loop "
        + (f"paced at {opts.rate:g} messages/s" if opts.rate > 0 else "(all offered at once)")
        + f"; Slack POSTs in flight <= {opts.concurrency}; Telegram flood control "
        + ("kept (30 messages/s)" if opts.flood_control else "lifted")
        + f"; zero-latency scripted model; max_concurrent_turns {opts.turns}"
        + (" (the default)." if opts.turns == 8 else ".")
    )
    print()
    rows = []
    for name, r in zip(names, results, strict=True):
        lat = r.latencies_ms
        accepted_late, seen_late, reply_late = r.order_violations()
        rows.append(
            [
                name,
                f"{len(r.sent):,}",
                f"{r.msgs_per_s:.1f}",
                f"{pct(lat, 50):.0f} / {pct(lat, 95):.0f} / {pct(lat, 99):.0f}",
                f"{max(lat, default=float('nan')):.0f}",
                str(r.lost) + (f" ({r.timed_out})" if r.timed_out else ""),
                f"{r.duplicated} / {r.reprocessed} / {r.rehandled}",
                f"{accepted_late} / {seen_late} / {reply_late}",
                str(r.strays),
                f"{r.wall:.1f} / {r.offered_in:.1f} / {r.first_reply:.1f}",
            ]
        )
    table(
        [
            "storage / platform",
            "messages",
            "msgs_per_s",
            "reply latency p50 / p95 / p99 (ms)",
            "max (ms)",
            "lost",
            "duplicated: replies / model / handled",
            "out of order: accepted / model / replies",
            "other replies",
            "s: wall / offering / first reply",
        ],
        rows,
    )

    print("Reply latency by stage, p50 / p95 / p99 ms (from the same timestamps):")
    print()
    stages = [r.stages() for r in results]
    rows = [
        [label, *(" / ".join(f"{pct(st[label], q):.0f}" for q in (50, 95, 99)) for st in stages)]
        for label in STAGES
    ]
    table(["stage", *names], rows)

    print("Where the time goes (per user message; CPU as a share of the run's wall time, the")
    print("machine has 2 cores = 200%):")
    print()
    rows = []
    for label, get in [
        ("this process CPU (service + adapter + fake)", lambda r: _share(r.cpu_self, r)),
        ("nx-27017 process CPU", lambda r: _share(r.cpu_db, r) if r.cpu_db else "-"),
        ("other processes on the machine, CPU", lambda r: _share(r.cpu_others, r)),
        ("inside the model, µs", lambda r: f"{r.model_seconds / _n(r) * 1e6:.0f}"),
        ("database round trips", lambda r: _per(sum(r.db.commands.values()), r)),
        (
            "database time, ms (driver-side, overlapping)",
            lambda r: f"{sum(r.db.micros.values()) / 1000 / _n(r):.2f}" if r.db.micros else "-",
        ),
    ]:
        rows.append([label, *(get(r) for r in results)])
    table(["measure", *names], rows)

    commands = sorted({c for r in results for c in r.db.commands})
    if commands:
        rows = [
            [c, *(_command(r, c) for r in results)]
            for c in commands
            if sum(r.db.commands[c] for r in results) >= min(_n(r) for r in results) * 0.01
        ]
        print("Database commands per user message x mean driver-side ms (>= 0.01 per message):")
        print()
        table(["command collection", *names], rows)

    methods = sorted({m for r in results for m in r.api_calls})
    rows = [[m, *(_per(r.api_calls[m], r) for r in results)] for m in methods]
    print("Platform API calls per user message (as the fake recorded them):")
    print()
    table(["call", *names], rows)

    owners = sorted(
        {o for r in results for o in r.samples},
        key=lambda o: -sum(r.samples[o] / max(sum(r.samples.values()), 1) for r in results),
    )
    if owners:
        rows = [
            [o, *(f"{100 * r.samples[o] / max(sum(r.samples.values()), 1):.0f}%" for r in results)]
            for o in owners
        ]
        rows.append(
            ["CPU samples (py-spy, 100 Hz)", *(str(sum(r.samples.values())) for r in results)]
        )
        print("CPU of this process by owner (py-spy; innermost frame that is ours, a platform")
        print("library's or a fake's; generic libraries count for their caller):")
        print()
        table(["owner", *names], rows)

    logged = sorted(
        {m for r in results for m in r.logs}, key=lambda m: -max(r.logs[m] for r in results)
    )
    if logged:
        print("Logged during the runs (count per run; Pagemind's INFO and up, typing failures):")
        print()
        rows = [[m.replace("|", "/"), *(str(r.logs[m]) for r in results)] for m in logged[:14]]
        table(["message", *names], rows)


def _command(r: Result, command: str) -> str:
    count = r.db.commands[command]
    if not count:
        return "-"
    return f"{count / _n(r):.2f} x {r.db.micros[command] / count / 1000:.1f}"


def _n(r: Result) -> int:
    return max(len(r.sent), 1)


def _per(count: int, r: Result) -> str:
    return f"{count / _n(r):.2f}"


def _share(seconds: float, r: Result) -> str:
    return f"{seconds:.1f} s ({100 * seconds / max(r.elapsed, 1e-9):.0f}%)"


def summary(results: list[Result]) -> str:
    nx = [r for r in results if r.storage == "nx-27017"] or results
    rate = min(r.msgs_per_s for r in nx)
    p99 = max(pct(r.latencies_ms, 99) for r in nx)
    lost = sum(r.lost for r in nx)
    duplicated = sum(r.duplicated for r in nx)
    late = sum(sum(r.order_violations()[1:]) for r in results)
    return (
        f"msgs_per_s={rate:.1f} reply_latency_ms_p99={p99:.0f} lost={lost} duplicated={duplicated}"
        f" out_of_order={late}"
    )


async def main(opts: Options) -> None:
    logs = LogCounter()
    logs.install()
    db = DbMonitor()
    monitoring.register(db)
    results = []
    started = time.monotonic()
    for storage in opts.storages:
        for platform in opts.platforms:
            for replicas in opts.replicas:
                if replicas > 1 and storage == "memory":
                    continue  # replicas share a database; memory is one process's
                results.append(await one_run(opts, storage, platform, db, logs, replicas))
    print(f"  all runs: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    report(opts, results)
    print(summary(results))


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=5, help="per user")
    parser.add_argument("--platforms", default="telegram,slack")
    parser.add_argument("--storage", default="nx,memory", help="nx, memory, or both")
    parser.add_argument("--rate", type=float, default=0.0, help="messages/s; 0: all at once")
    parser.add_argument("--concurrency", type=int, default=64, help="Slack POSTs in flight")
    parser.add_argument(
        "--telegram-flood-control",
        action="store_true",
        help="keep python-telegram-bot's 30 messages/s limiter (Telegram's real quota)",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument(
        "--profile-dir", type=Path, help="keep each run's py-spy stacks (folded) here"
    )
    parser.add_argument(
        "--quiet", type=float, default=30.0, help="s without replies, nothing left: end"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="s per run at most")
    parser.add_argument("--turns", type=int, default=8, help="max_concurrent_turns")
    parser.add_argument(
        "--replicas", default="1,2", help="1: one service; 2: two on one nx-27017 (alternating)"
    )
    parser.add_argument("--quick", action="store_true", help="100 users x 3 messages")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.messages = 100, 3
    storages = {"nx": "nx-27017", "nx-27017": "nx-27017", "memory": "memory"}
    return Options(
        users=args.users,
        messages=args.messages,
        platforms=[p.strip() for p in args.platforms.split(",") if p.strip()],
        storages=[storages[s.strip()] for s in args.storage.split(",") if s.strip()],
        rate=args.rate,
        concurrency=args.concurrency,
        flood_control=args.telegram_flood_control,
        profile=not args.no_profile,
        quiet=args.quiet,
        timeout=args.timeout,
        turns=args.turns,
        profile_dir=args.profile_dir,
        replicas=[int(n) for n in args.replicas.split(",") if n.strip()],
    )


if __name__ == "__main__":
    asyncio.run(main(parse()))
