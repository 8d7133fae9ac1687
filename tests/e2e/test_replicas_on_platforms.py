"""Two real ``pagemind run`` replicas behind one bot, as an operator deploys them: Telegram
webhooks and Slack HTTP events POSTed to the two in turn, each POST acknowledged before the
next is sent. One user's messages are answered, and stored in recall, in the order they
were acknowledged, whichever replica took each; killing the replica that started the
embedded database loses no acknowledged message."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from adapters.mongo.agents import MongoAgentStore
from adapters.mongo.connection import MongoConnection
from adapters.mongo.recall import MongoRecallStore
from tests.support.fakes.slack import FakeSlack
from tests.support.fakes.telegram import FakeTelegram, make_user
from tests.support.mongo import die_with_parent
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply

ROOT = Path(__file__).resolve().parents[2]
TOKEN = re.compile(r"msg-(\d+)")
SECRET = "replica-secret_1"
COUNT = 20


def echo_latest(body: dict[str, Any]) -> dict[str, Any]:
    """A scripted model (a test double): answers the newest message by naming it."""
    for message in reversed(body["messages"]):
        found = TOKEN.search(str(message.get("content")))
        if message["role"] == "user" and found:
            return tool_reply("send_message", {"message": f"echo {found.group(0)}"})
    return tool_reply("send_message", {"message": "?"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Replica:
    """One ``pagemind run`` process."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.name, self.process, self.log = name, process, log

    @classmethod
    async def start(cls, name: str, env: dict[str, str], log: Path, ready: str) -> Replica:
        full = {k: v for k, v in os.environ.items() if not k.startswith(("PAGEMIND_", "OPENAI_"))}
        full.update(env, PAGEMIND_WORKER_NAME=name, PTB_TIMEDELTA="1")
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bots.cli", "run",
                cwd=ROOT, env=full, stdout=out, stderr=out, stdin=asyncio.subprocess.DEVNULL,
                preexec_fn=die_with_parent,  # a failed test leaves no replica behind
            )  # fmt: skip
        replica = cls(name, process, log)
        deadline = asyncio.get_running_loop().time() + 90
        while ready not in log.read_text(errors="replace"):
            if process.returncode is not None or asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{name} did not start:\n{replica.tail()}")
            await asyncio.sleep(0.05)
        return replica

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 60)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode or 0

    async def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()


def base_env(llm: ScriptedOpenAIServer, data: Path, **extra: str) -> dict[str, str]:
    return {
        "PAGEMIND_LLM_BASE_URL": llm.base_url,
        "PAGEMIND_LLM_MODEL": "scripted",
        "PAGEMIND_LLM_MAX_RETRIES": "0",
        "PAGEMIND_DATA_DIR": str(data),
        "PAGEMIND_CHECKINS": "false",
        "PAGEMIND_API_PORT": "0",  # each replica's operator API on a free port
        **extra,
    }


def telegram_env(tg: FakeTelegram, port: int) -> dict[str, str]:
    return {
        "PAGEMIND_TELEGRAM_TOKEN": "123456:REPLICAS",
        "PAGEMIND_TELEGRAM_API_BASE_URL": tg.api_base.removesuffix("/bot"),
        "PAGEMIND_TELEGRAM_MODE": "webhook",
        "PAGEMIND_TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram",
        "PAGEMIND_TELEGRAM_WEBHOOK_LISTEN": "127.0.0.1",
        "PAGEMIND_TELEGRAM_WEBHOOK_PORT": str(port),
        "PAGEMIND_TELEGRAM_WEBHOOK_SECRET": SECRET,
    }


def embedded_server(data: Path) -> dict[str, Any]:
    return json.loads((data / "mongo" / "server.json").read_text())


def embedded_uri(data: Path) -> str:
    return str(embedded_server(data)["uri"])


def embedded_pid(data: Path) -> int:
    info = embedded_server(data)
    return int((info.get("process") or info)["pid"])


async def stored_order(uri: str, database: str = "pagemind") -> list[int]:
    """The numbers of the user's messages as recall stores them."""
    connection = MongoConnection(uri, database)
    try:
        (agent,) = await MongoAgentStore(connection).list_keys()
        recall = await MongoRecallStore(connection).range(agent, 0, 10_000)
        return [
            int(m.content.split("msg-")[1].split()[0])
            for m in recall
            if "msg-" in m.content and m.kind == "user_message"
        ]
    finally:
        await connection.aclose()


def telegram_replies(tg: FakeTelegram) -> list[int]:
    return [
        int(TOKEN.search(m["text"]).group(1)) for m in tg.sent_messages() if TOKEN.search(m["text"])
    ]  # type: ignore[union-attr]


async def wait_until(condition, what: str, timeout: float = 90) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_telegram_webhook_replicas_answer_in_the_order_updates_were_acknowledged(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    ports = [free_port(), free_port()]
    async with FakeTelegram() as tg, ScriptedOpenAIServer(default=echo_latest) as llm:  # type: ignore[arg-type]
        replicas = [
            await Replica.start(
                f"w{i + 1}",
                base_env(llm, data) | telegram_env(tg, port),
                tmp_path / f"w{i + 1}.log",
                "telegram: started",
            )
            for i, port in enumerate(ports)
        ]
        try:
            user = make_user(5150, "Ana")
            for i in range(COUNT):
                update = tg.push_private_message(f"msg-{i} hello", user=user)
                url = f"http://127.0.0.1:{ports[i % 2]}/telegram"
                assert await tg.post_update_to_webhook(url, update, secret_token=SECRET) == 200
            await wait_until(lambda: len(telegram_replies(tg)) >= COUNT, f"{COUNT} replies")
            uri = embedded_uri(data)
            order = await stored_order(uri)
        finally:
            codes = [await replica.stop() for replica in replicas]
    assert telegram_replies(tg) == list(range(COUNT)), [r.tail() for r in replicas]
    assert order == list(range(COUNT)), "recall stores them in the order acknowledged"
    assert codes == [0, 0]


async def test_slack_http_replicas_answer_in_the_order_events_were_acknowledged(
    tmp_path: Path, nx_uri: str
) -> None:
    ports = [free_port(), free_port()]
    database = f"replicas_{os.getpid()}_{ports[0]}"
    async with FakeSlack() as slack, ScriptedOpenAIServer(default=echo_latest) as llm:  # type: ignore[arg-type]
        slack.add_user("U0ANA0001", "ana", real_name="Ana")
        slack.add_im("D0ANA0001", "U0ANA0001")
        env = base_env(
            llm,
            tmp_path / "data",
            PAGEMIND_MONGODB_URI=nx_uri,
            PAGEMIND_MONGODB_DATABASE=database,
            PAGEMIND_SLACK_BOT_TOKEN=slack.bot_token,
            PAGEMIND_SLACK_SIGNING_SECRET=slack.signing_secret,
            PAGEMIND_SLACK_MODE="http",
            PAGEMIND_SLACK_HTTP_LISTEN="127.0.0.1",
            PAGEMIND_SLACK_API_BASE_URL=slack.api_url,
        )
        replicas = [
            await Replica.start(
                f"s{i + 1}",
                env | {"PAGEMIND_SLACK_HTTP_PORT": str(port)},
                tmp_path / f"s{i + 1}.log",
                "slack: started",
            )
            for i, port in enumerate(ports)
        ]

        def replies() -> list[int]:
            texts = [
                str(c.args.get("text", ""))
                for c in slack.calls
                if c.method == "chat.postMessage" and c.error is None
            ]
            return [int(m.group(1)) for t in texts if (m := TOKEN.search(t))]

        try:
            for i in range(COUNT):
                event = slack.message_event(
                    f"msg-{i} hello", channel="D0ANA0001", user="U0ANA0001", channel_type="im"
                )
                url = f"http://127.0.0.1:{ports[i % 2]}/slack/events"
                result = await slack.post_event(url, slack.event_callback(event))
                assert result.status == 200
            await wait_until(lambda: len(replies()) >= COUNT, f"{COUNT} replies")
            order = await stored_order(nx_uri, database)
        finally:
            codes = [await replica.stop() for replica in replicas]
    assert replies() == list(range(COUNT)), [r.tail() for r in replicas]
    assert order == list(range(COUNT)), "recall stores them in the order acknowledged"
    assert codes == [0, 0]


async def test_killing_the_replica_that_started_the_database_loses_no_acknowledged_message(
    tmp_path: Path,
) -> None:
    """kill -9 of the replica whose start launched the embedded database, with messages
    it acknowledged still unanswered: the other replica answers every one of them, and
    everything acknowledged after the kill."""
    data = tmp_path / "data"
    ports = [free_port(), free_port()]
    gate = asyncio.Event()
    model_calls = 0

    async def slow_then_echo(body: dict[str, Any]) -> dict[str, Any]:
        nonlocal model_calls
        model_calls += 1
        if model_calls == 2:
            await gate.wait()  # the second turn hangs until the kill
        return echo_latest(body)

    async with FakeTelegram() as tg, ScriptedOpenAIServer(default=slow_then_echo) as llm:  # type: ignore[arg-type]
        env = base_env(llm, data, PAGEMIND_LEASE_TTL="30")
        first = await Replica.start(
            "w1", env | telegram_env(tg, ports[0]), tmp_path / "w1.log", "telegram: started"
        )
        second = await Replica.start(
            "w2", env | telegram_env(tg, ports[1]), tmp_path / "w2.log", "telegram: started"
        )
        server = embedded_pid(data)
        try:
            user = make_user(6160, "Rui")
            url = f"http://127.0.0.1:{ports[0]}/telegram"
            for i in range(5):  # all to the first replica: it runs the agent
                update = tg.push_private_message(f"msg-{i} hello", user=user)
                assert await tg.post_update_to_webhook(url, update, secret_token=SECRET) == 200
            await wait_until(lambda: model_calls >= 2, "the second turn to start")
            await first.kill()  # the replica that started the database, mid-turn
            gate.set()
            url = f"http://127.0.0.1:{ports[1]}/telegram"
            for i in range(5, 10):
                update = tg.push_private_message(f"msg-{i} hello", user=user)
                assert await tg.post_update_to_webhook(url, update, secret_token=SECRET) == 200
            await wait_until(lambda: set(telegram_replies(tg)) >= set(range(10)), "10 replies")
            order = await stored_order(embedded_uri(data))
            assert (
                json.loads((data / "mongo" / "server.json").read_text())["process"]["pid"] == server
            )
        finally:
            await second.stop()
    assert telegram_replies(tg) == list(range(10)), second.tail()
    assert order == list(range(10))
