"""The Slack adapter under test, wired to the whole service in process: the rig, its fakes
at the ports, and the helpers its tests read the Slack fake with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from adapters.inmemory import InMemoryInbox
from adapters.slack_chat import SlackAdapter
from config.platforms import SlackSettings
from core.errors import UploadError
from core.inbound.messages import Attachment, IncomingMessage, PlatformPolicy
from core.turn.settings import AgentSettings
from tests.support.fakes.slack import Envelope, FakeSlack, Json
from tests.support.scripted import ScriptedModel
from tests.support.service import ServiceHarness, service

Mode = Literal["socket", "http"]
DM = "D0DM000001"
CHANNEL = "C0CHAN0001"
HOURGLASS = "hourglass_flowing_sand"
ALICE_AGENT = "slack:user:T0FAKE0001:U0USER0001"


class RecordingIntake:
    """A fake upload pipeline at the ``UploadIntake`` port: it downloads through the adapter
    under test (the ``PlatformFiles`` port) and records what arrived."""

    def __init__(self, max_bytes: int = 1000) -> None:
        self.max_bytes = max_bytes
        self.files: SlackAdapter | None = None
        self.received: list[tuple[Attachment, bytes]] = []

    async def accept(
        self, message: IncomingMessage, attachment: Attachment, agent_key: str
    ) -> str | None:
        assert self.files is not None
        try:
            data = await self.files.download(attachment, self.max_bytes)
        except UploadError as exc:
            return str(exc)
        self.received.append((attachment, data))
        return f"Got {attachment.filename} ({len(data)} bytes)."


@dataclass
class Delivery:
    payload: Json
    envelope: Envelope | None = None


@dataclass
class Rig:
    """One running adapter (in ``mode``) wired to the service and to the fake."""

    mode: Mode
    slack: FakeSlack
    adapter: SlackAdapter
    service: ServiceHarness
    extra: list[SlackAdapter] = field(default_factory=list)

    @property
    def model(self) -> ScriptedModel:
        return self.service.model

    async def deliver(
        self, event: Json, *, event_id: str | None = None, to: SlackAdapter | None = None
    ) -> Delivery:
        """Send an event the way this transport does, and wait for its acknowledgement."""
        payload = self.slack.event_callback(event, event_id=event_id)
        if self.mode == "socket":
            envelope = await self.slack.send_envelope("events_api", payload)
            await self.slack.wait_for_ack(envelope)
            return Delivery(payload, envelope)
        result = await self.slack.post_event(self.url(to), payload)
        assert result.status == 200, result.text
        return Delivery(payload)

    async def redeliver(self, delivery: Delivery, *, to: SlackAdapter | None = None) -> None:
        """Slack's retry of an event: same ``event_id`` (Socket Mode: a new envelope with
        ``retry_attempt``; HTTP: ``X-Slack-Retry-Num``)."""
        if self.mode == "socket":
            assert delivery.envelope is not None
            again = await self.slack.redeliver(delivery.envelope)
            await self.slack.wait_for_ack(again)
            return
        result = await self.slack.post_event(self.url(to), delivery.payload, retry_num=1)
        assert result.status == 200

    async def command(self, text: str, *, channel: str = CHANNEL) -> list[Json]:
        """Run ``/pagemind <text>``; returns the answers posted to its ``response_url``."""
        fields = self.slack.slash_command_payload("/pagemind", text, channel=channel)
        if self.mode == "socket":
            envelope = await self.slack.send_envelope(
                "slash_commands", fields, accepts_response_payload=True
            )
            await self.slack.wait_for_ack(envelope)
        else:
            result = await self.slack.post_command(self.url(), fields)
            assert result.status == 200
        await self.adapter.join()
        hook = fields["response_url"].rsplit("/", 1)[-1]
        return [r for r in self.slack.responses if r["hook"] == hook]

    async def settle(self) -> None:
        """Wait until the adapter(s) handled everything received (turns included)."""
        for adapter in (self.adapter, *self.extra):
            await adapter.join()

    def url(self, adapter: SlackAdapter | None = None) -> str:
        url = (adapter or self.adapter).events_url
        assert url is not None
        return url

    def dm(self, text: str, **kw: Any) -> Json:
        return self.slack.message_event(text, channel=DM, channel_type="im", **kw)

    async def start_replica(self) -> SlackAdapter:
        """A second adapter on the same service: another replica sharing its inbox."""
        replica = make_adapter(self.slack, self.mode, self.service)
        await replica.start()
        self.extra.append(replica)
        return replica


# A safety net for stopping: far above a stop that cancels what it need not wait for, far
# below the grace a turn under way would otherwise be given.
STOP_NEVER_WAITS = 60.0


def make_adapter(
    slack: FakeSlack,
    mode: Mode,
    harness: ServiceHarness,
    policy: PlatformPolicy | None = None,
    **kwargs: Any,
) -> SlackAdapter:
    settings = SlackSettings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=slack.bot_token,
        app_token=slack.app_token,
        signing_secret=slack.signing_secret,
        mode=mode,
        http_listen="127.0.0.1",
        http_port=0,
        api_base_url=slack.api_url,
    )
    kwargs.setdefault("ping_interval", 0.5)
    kwargs.setdefault("shutdown_grace", 2.0)
    return SlackAdapter(settings, harness.gateway, policy or PlatformPolicy(), **kwargs)


@asynccontextmanager
async def running(
    mode: Mode,
    model: ScriptedModel,
    *,
    policy: PlatformPolicy | None = None,
    settings: AgentSettings | None = None,
    intake: RecordingIntake | None = None,
    inbox: InMemoryInbox | None = None,
    **adapter_kwargs: Any,
) -> AsyncIterator[Rig]:
    policy = policy or PlatformPolicy()
    async with (
        FakeSlack() as slack,
        service(model, policies={"slack": policy}, settings=settings, inbox=inbox) as h,
    ):
        adapter = make_adapter(slack, mode, h, policy, **adapter_kwargs)
        h.attach("slack", adapter, intake)
        if intake is not None:
            intake.files = adapter
        await adapter.start()
        rig = Rig(mode, slack, adapter, h)
        try:
            yield rig
        finally:
            for replica in rig.extra:
                await replica.stop()
            await adapter.stop()


def methods(slack: FakeSlack, *names: str) -> list[str]:
    return [c.method for c in slack.calls if c.method in names]
