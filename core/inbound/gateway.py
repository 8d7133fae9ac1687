"""The front door: every platform adapter hands incoming messages here, and does what the
result says (send its reply, attach its file, show "typing" while an accepted event runs).

In order: ignore bots; refuse users, workspaces and channels outside the allowlists; run
commands; ignore group messages not addressed to the agent; apply the per-user rate limit;
hand attachments to the upload pipeline; record the message as an event for its agent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from core.errors import ConfigurationError
from core.events import SendReply, UserMessageReceived
from core.inbound.commands import Command, CommandContext, CommandHandler, parse_command
from core.inbound.dispatch import AgentDispatcher
from core.inbound.messages import (
    Attachment,
    IncomingMessage,
    PlatformPolicy,
    RateLimiter,
    addressed,
    agent_key,
)
from core.inbound.waiting import Handover
from core.ports import Clock, ReplySink
from core.uploads.platform import PlatformIntakes

log = logging.getLogger(__name__)

Status = Literal["accepted", "duplicate", "ignored", "refused", "rate_limited", "command"]

NOT_ALLOWED = "Sorry, I'm not available to you here."
UPLOADS_UNSUPPORTED = "I can't read files here yet, but I read everything you write."
RESTRICTED = "Only the operators of this bot can use /{name} here."

# Resolves when an accepted event has been dealt with (adapters show "typing" until then).
TurnDone = asyncio.Future[Handover | None]


@dataclass(frozen=True)
class GatewayResult:
    status: Status
    reply: str | None = None
    file: tuple[str, bytes] | None = None
    agent_key: str | None = None
    done: TurnDone | None = None  # accepted: resolves when dealt with


class Gateway:
    def __init__(
        self,
        *,
        dispatcher: AgentDispatcher,
        commands: CommandHandler,
        policies: Mapping[str, PlatformPolicy],
        clock: Clock,
        uploads: PlatformIntakes | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.clock = clock
        self.commands = commands
        self.policies = policies
        self.uploads = uploads or PlatformIntakes()
        self._limiters = {name: RateLimiter(p.messages_per_minute) for name, p in policies.items()}

    def policy(self, platform: str) -> PlatformPolicy:
        return self.policies.get(platform) or PlatformPolicy()

    async def receive(
        self, message: IncomingMessage, bot_username: str | None = None
    ) -> GatewayResult:
        if message.sender.is_bot:
            return GatewayResult("ignored")
        policy = self.policy(message.platform)
        if not policy.allows(message):
            log.info("refused a message from %s on %s", message.user_key, message.platform)
            return GatewayResult("refused", reply=NOT_ALLOWED if message.is_direct else None)
        command = parse_command(message.text, bot_username) if not message.is_edit else None
        if command is not None:
            return await self.command(message, command)
        if not addressed(message, policy):
            return GatewayResult("ignored")
        wait = self._limiters.setdefault(
            message.platform, RateLimiter(policy.messages_per_minute)
        ).allow(message.user_key, self.clock.now().timestamp())
        if wait:
            return GatewayResult(
                "rate_limited",
                reply=f"You're sending messages faster than I can read them; please wait "
                f"{max(1, round(wait))} seconds.",
            )
        key = agent_key(message, policy.scope)
        notes = [await self._upload(message, a, key) for a in message.attachments]
        notice = "\n".join(n for n in notes if n) or None
        if not message.text.strip():
            return GatewayResult(
                "accepted" if message.attachments else "ignored", reply=notice, agent_key=key
            )
        event = UserMessageReceived(
            event_id=self._event_id(message),
            agent_key=key,
            occurred_at=message.received_at,
            text=f"(edited) {message.text}" if message.is_edit else message.text,
            author_id=message.user_key,
            author_name=message.sender.name,
            reply_to=message.address,
        )
        done = self.dispatcher.watch(event.event_id)
        try:
            fresh = await self.dispatcher.submit(event)
        except BaseException:
            self.dispatcher.unwatch(event.event_id, done)
            raise
        if not fresh:
            self.dispatcher.unwatch(event.event_id, done)  # the first delivery may wait on it
            return GatewayResult("duplicate", reply=notice, agent_key=key)
        return GatewayResult("accepted", reply=notice, agent_key=key, done=done)

    async def command(self, message: IncomingMessage, command: Command) -> GatewayResult:
        """Run a command (a native slash command, or one found in a message)."""
        policy = self.policy(message.platform)
        if not policy.allows(message):
            return GatewayResult("refused", reply=NOT_ALLOWED)
        if command.name in policy.admin_only_commands and not policy.is_admin(message):
            return GatewayResult("command", reply=RESTRICTED.format(name=command.name))
        ctx = CommandContext(
            conversation_agent=agent_key(message, policy.scope),
            own_agent=agent_key(message, "user"),
            caller_id=message.user_key,
            caller_name=message.sender.name,
            address=message.address,
        )
        reply = await self.commands.run(command, ctx)
        return GatewayResult("command", reply=reply.text, file=reply.file, agent_key=ctx.own_agent)

    async def _upload(
        self, message: IncomingMessage, attachment: Attachment, key: str
    ) -> str | None:
        intake = self.uploads.get(message.platform)
        if intake is None:
            return UPLOADS_UNSUPPORTED
        return await intake.accept(message, attachment, key)

    @staticmethod
    def _event_id(message: IncomingMessage) -> str:
        suffix = f":edit:{message.received_at.timestamp():.0f}" if message.is_edit else ""
        return f"{message.platform}:{message.delivery_id}{suffix}"


class ReplyRouter:
    """The agent's replies, sent through the adapter of the platform they are addressed to."""

    def __init__(self) -> None:
        self._sinks: dict[str, ReplySink] = {}

    def register(self, platform: str, sink: ReplySink) -> None:
        self._sinks[platform] = sink

    async def send(self, reply: SendReply) -> None:
        if reply.address is None:
            log.warning(
                "a reply with nowhere to go (no conversation yet) was dropped",
                extra={"agent_key": reply.agent_key, "event_id": reply.event_id},
            )
            return
        sink = self._sinks.get(reply.address.platform)
        if sink is None:
            raise ConfigurationError(
                f"no adapter is running for {reply.address.platform!r}; cannot deliver"
            )
        await sink.send(reply)
