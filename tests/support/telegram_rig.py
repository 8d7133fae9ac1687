"""The Telegram adapter under test, wired to the whole service in process: the rig, its fakes
at the ports, and the helpers its tests read the Telegram fake with."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from adapters.inmemory import InMemoryInbox
from adapters.telegram_chat import TelegramAdapter
from config.platforms import TelegramSettings
from core.errors import UploadError
from core.inbound.messages import Attachment, IncomingMessage, PlatformPolicy
from core.ports import PlatformFiles
from core.turn.settings import AgentSettings
from tests.support.fakes.telegram import (
    DEFAULT_GROUP_ID,
    DEFAULT_USER_ID,
    Call,
    FakeTelegram,
)
from tests.support.scripted import ScriptedModel
from tests.support.service import ServiceHarness, service

TOKEN = "123456:TEST-token"
DM = DEFAULT_USER_ID
GROUP = DEFAULT_GROUP_ID
JSON = dict[str, Any]


# ---------------------------------------------------------------------- test doubles


@dataclass
class RecordingIntake:
    """A fake at the UploadIntake port: fetches the file through the adapter's PlatformFiles,
    shows progress in a status message, and records what it got."""

    max_bytes: int = 20 * 2**20
    files: PlatformFiles | None = None
    received: list[tuple[Attachment, bytes]] = field(default_factory=list)

    async def accept(
        self, message: IncomingMessage, attachment: Attachment, agent_key: str
    ) -> str | None:
        assert self.files is not None
        try:
            data = await self.files.download(attachment, self.max_bytes)
        except UploadError as exc:
            return str(exc)
        status = await self.files.post_status(message.address, f"Reading {attachment.filename}…")
        done = f"Read {attachment.filename}: {len(data)} bytes"
        await self.files.edit_status(message.address, status, done)
        await self.files.edit_status(message.address, status, done)  # unchanged: no error
        self.received.append((attachment, data))
        return None


class ExplodingIntake:
    """An upload pipeline with a bug: it raises something nobody expected."""

    async def accept(
        self, message: IncomingMessage, attachment: Attachment, agent_key: str
    ) -> str | None:
        raise RuntimeError("intake exploded")


# ---------------------------------------------------------------------- harness


@dataclass
class Rig:
    tg: FakeTelegram
    service: ServiceHarness
    adapter: TelegramAdapter
    settings: TelegramSettings
    policy: PlatformPolicy
    intake: Any = None

    @property
    def model(self) -> ScriptedModel:
        return self.service.model

    def new_adapter(self) -> TelegramAdapter:
        """A fresh adapter on the same service: what a restarted process would run."""
        adapter = TelegramAdapter(self.settings, self.service.gateway, self.policy, **FAST)
        self.service.attach("telegram", adapter, self.intake)
        return adapter


FAST: dict[str, Any] = {"retry_delay": 0.01, "typing_interval": 0.05, "shutdown_grace": 1.0}
# A safety net, far above a stop that gives the turn under way its grace (``shutdown_grace``)
# and far below one that waits for a long poll ten times as long to end by itself.
STOP_NEVER_WAITS = 60.0


def settings_for(tg: FakeTelegram, **overrides: Any) -> TelegramSettings:
    values: dict[str, Any] = {
        "token": TOKEN,
        "api_base_url": f"http://127.0.0.1:{tg.port}",
        "mode": "polling",
        "poll_timeout": 2.0,
        **overrides,
    }
    return TelegramSettings(_env_file=None, **values)


@asynccontextmanager
async def running(
    model: ScriptedModel,
    *,
    policy: PlatformPolicy | None = None,
    agent_settings: AgentSettings | None = None,
    intake: Any = None,
    inbox: InMemoryInbox | None = None,
    checkins: bool = False,
    typing_interval: float = FAST["typing_interval"],
    **telegram: Any,
) -> AsyncIterator[Rig]:
    """The fake Bot API, the whole service, and a started adapter wired like production."""
    policy = policy or PlatformPolicy()
    async with (
        FakeTelegram(bot_username="pagemind_bot") as tg,
        service(
            model,
            policies={"telegram": policy},
            settings=agent_settings,
            inbox=inbox,
            checkins=checkins,
        ) as harness,
    ):
        settings = settings_for(tg, **telegram)
        options = FAST | {"typing_interval": typing_interval}
        adapter = TelegramAdapter(settings, harness.gateway, policy, **options)
        harness.attach("telegram", adapter, intake)
        if isinstance(intake, RecordingIntake):
            intake.files = adapter
        await adapter.start()
        try:
            yield Rig(tg, harness, adapter, settings, policy, intake)
        finally:
            await adapter.stop()


def answers(tg: FakeTelegram, update: JSON, method: str = "sendMessage") -> list[Call]:
    """Successful calls of ``method`` that reply to the message in ``update``."""
    message = update.get("message") or update["edited_message"]
    return [c for c in tg.calls_to(method) if c.ok and _replies_to(c, message)]


async def answer_to(
    tg: FakeTelegram, update: JSON, method: str = "sendMessage", *, text: str | None = None
) -> Call:
    """The first answer to the message in ``update`` (with ``text``, if given); waits."""
    message = update.get("message") or update["edited_message"]

    def matches(c: Call) -> bool:
        wanted = text is None or c.params.get("text") == text
        return c.ok and c.method == method and _replies_to(c, message) and wanted

    return await tg.wait_for(matches, timeout=5)


def _replies_to(c: Call, message: JSON) -> bool:
    reply = c.params.get("reply_parameters") or {}
    same_chat: bool = c.params.get("chat_id") == message["chat"]["id"]
    return same_chat and reply.get("message_id") == message["message_id"]


def typing_loops(chat_id: int) -> list[asyncio.Task[Any]]:
    """The adapter's "typing…" loops for the chat that are still running."""
    name = f"telegram-typing:{chat_id}"
    return [t for t in asyncio.all_tasks() if t.get_name() == name and not t.done()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
