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
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from pymongo import monitoring

from bench.platform_measure import (
    DbMonitor,
    LogCounter,
    Meter,
    Profiler,
    Reply,
    Result,
    Sent,
)
from bench.platform_report import report, summary
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
