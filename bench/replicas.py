"""The two-replica runs of ``bench.platform_load``: two services on one nx-27017, as two
``pagemind run`` replicas behind one bot (Telegram in webhook mode, Slack HTTP events), each
user's messages POSTed to the two in turn, each once the previous one was acknowledged.

Both replicas run in this process (so the bench sees every step of both with one clock, as
for one replica), each built by the composition root with its own worker name, leases,
doorbell and adapter on its own port; they share nothing but the database. The tests in
``tests/e2e/test_replicas_on_platforms.py`` run the same topology as real processes.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp

from bench.platform_load import (
    TELEGRAM_TOKEN,
    EchoModel,
    Options,
    Outcome,
    Probe,
    ReplyLog,
    pagemind,
    post_in_turn,
    schedule,
    telegram_flood_control,
    text_of,
    wait_for_replies,
)
from bench.platform_measure import Meter, Sent
from bots.bootstrap import Service
from bots.platforms import PlatformAdapter
from config.platforms import SlackSettings, TelegramSettings
from config.settings import Settings
from tests.support.fakes.slack import FakeSlack
from tests.support.fakes.telegram import FakeTelegram, make_user

REPLICAS = 2
SECRET = "bench-replicas-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def replicas(
    settings: Settings,
    model: EchoModel,
    platform: str,
    platform_settings: list[TelegramSettings] | list[SlackSettings],
    probe: Probe,
) -> AsyncIterator[list[tuple[Service, PlatformAdapter]]]:
    async with AsyncExitStack() as stack:
        running = []
        for i, options in enumerate(platform_settings):
            own = settings.model_copy(update={"worker_name": f"replica-{i + 1}"})
            running.append(
                await stack.enter_async_context(pagemind(own, model, platform, options, probe))
            )
        yield running


async def run_telegram(
    opts: Options, settings: Settings, model: EchoModel, meter: Meter
) -> Outcome:
    users = [make_user(1_000_000 + u, f"User{u}", f"user{u:04d}") for u in range(opts.users)]
    when = schedule(opts.users, opts.rate)
    sent: dict[str, Sent] = {}
    probe = Probe()
    statuses: Counter[int] = Counter()
    ports = [free_port() for _ in range(REPLICAS)]
    async with FakeTelegram(bot_username="pagemind_bot") as tg:
        options = [
            TelegramSettings(
                _env_file=None,  # type: ignore[call-arg]
                token=TELEGRAM_TOKEN,
                api_base_url=f"http://127.0.0.1:{tg.port}",
                mode="webhook",
                webhook_url="https://bench.example.org/telegram",
                webhook_listen="127.0.0.1",
                webhook_port=port,
                webhook_secret=SECRET,
            )
            for port in ports
        ]

        def sent_text(call: Any) -> str | None:
            ok = call.ok and call.method == "sendMessage"
            return str(call.params.get("text", "")) if ok else None

        replies = ReplyLog(tg.calls, sent_text)
        urls = [f"http://127.0.0.1:{port}/telegram" for port in ports]
        with telegram_flood_control(opts.flood_control):
            async with replicas(settings, model, "telegram", options, probe) as running:
                connector = aiohttp.TCPConnector(limit=opts.concurrency)
                async with aiohttp.ClientSession(connector=connector) as session:

                    async def post(user: int, index: int) -> int:
                        update = tg.push_private_message(text_of(user, index), user=users[user])
                        return await tg.post_update_to_webhook(
                            urls[(user + index) % REPLICAS],  # the two replicas in turn
                            update,
                            secret_token=SECRET,
                            session=session,
                        )

                    meter.begin()
                    start = time.monotonic()
                    await post_in_turn(opts, start, when, sent, statuses, post)
                    offered = time.monotonic() - start
                stalled = await wait_for_replies(set(sent), replies, running[0][0], lambda: 0, opts)
                meter.end()
        calls = Counter(c.method for c in tg.calls if c.ok)
        calls.update({f"webhook POST answered {s}": n for s, n in statuses.items()})
        return Outcome(sent, replies(), start, offered, stalled, calls, probe)


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
        options = [
            SlackSettings(
                _env_file=None,  # type: ignore[call-arg]
                bot_token=slack.bot_token,
                signing_secret=slack.signing_secret,
                mode="http",
                http_listen="127.0.0.1",
                http_port=0,
                api_base_url=slack.api_url,
            )
            for _ in range(REPLICAS)
        ]

        def posted_text(call: Any) -> str | None:
            ok = call.method == "chat.postMessage" and call.error is None
            return str(call.args.get("text", "")) if ok else None

        replies = ReplyLog(slack.calls, posted_text)
        async with replicas(settings, model, "slack", options, probe) as running:
            urls = [adapter.events_url for _, adapter in running]  # type: ignore[attr-defined]
            connector = aiohttp.TCPConnector(limit=opts.concurrency)
            async with aiohttp.ClientSession(connector=connector) as session:

                async def post(user: int, index: int) -> int:
                    event = slack.message_event(
                        text_of(user, index), channel=f"D{user:08d}", user=ids[user]
                    )
                    url = urls[(user + index) % REPLICAS]  # the two replicas in turn
                    payload = slack.event_callback(event)
                    return (await slack.post_event(url, payload, session=session)).status

                meter.begin()
                start = time.monotonic()
                await post_in_turn(opts, start, when, sent, statuses, post)
                offered = time.monotonic() - start
            stalled = await wait_for_replies(set(sent), replies, running[0][0], lambda: 0, opts)
            for _, adapter in running:
                await adapter.join()  # type: ignore[attr-defined]
            meter.end()
        calls = Counter(c.method for c in slack.calls if c.error is None)
        calls.update({f"events POST answered {s}": n for s, n in statuses.items()})
        return Outcome(sent, replies(), start, offered, stalled, calls, probe)
