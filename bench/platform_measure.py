"""What `bench.platform_load` measures while it runs: database commands, log lines, CPU of
this process and the others, where the time goes (py-spy), and one run's result."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pymongo import monitoring

SPY = Path(sys.executable).with_name("py-spy")


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
