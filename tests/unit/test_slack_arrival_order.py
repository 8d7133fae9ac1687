"""Slack events of one channel reach the gateway in the order Slack delivered them, even
when an earlier one waits longer for its author's name."""

from __future__ import annotations

import asyncio

from adapters.slack_chat.handling import InboundHandler
from adapters.slack_chat.translate import BotIdentity
from core.inbound.commands import Command
from core.inbound.gateway import GatewayResult
from core.inbound.messages import IncomingMessage
from core.tasks import BackgroundTasks
from tests.support.fakes.slack import FakeSlack

BOT = BotIdentity(user_id="UBOT", name="pagemind", team_id="T1")


class SlowFirstLookup:
    """The first author's name takes a while (not cached yet); later ones are instant."""

    def __init__(self) -> None:
        self.calls = 0

    async def name(self, user_id: str) -> str:
        self.calls += 1
        if self.calls == 1:
            await asyncio.sleep(0.05)
        return user_id


class RecordingGateway:
    """The gateway port, recording the order messages reach it."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def receive(
        self, message: IncomingMessage, bot_username: str | None = None
    ) -> GatewayResult:
        self.texts.append(message.text)
        return GatewayResult("ignored")

    async def command(self, message: IncomingMessage, command: Command) -> GatewayResult:
        return GatewayResult("ignored")


async def test_a_channels_messages_reach_the_gateway_in_arrival_order() -> None:
    slack = FakeSlack()
    gateway = RecordingGateway()
    handler = InboundHandler(
        gateway=gateway,
        outbound=None,  # type: ignore[arg-type]
        users=SlowFirstLookup(),  # type: ignore[arg-type]
        tasks=BackgroundTasks(),
        slash_command="/pagemind",
    )
    bodies = [
        slack.event_callback(slack.message_event(text, channel="D0000001", user=user))
        for text, user in (("first", "U1"), ("second", "U2"), ("third", "U1"))
    ]
    await asyncio.gather(*(handler.handle_event(body, BOT) for body in bodies))
    assert gateway.texts == ["first", "second", "third"]
