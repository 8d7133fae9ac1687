"""Messages from the gateway: filter, translate, hand to the core's ``Gateway``, then do what
its result says (post its reply or file, show "typing" while the agent works).

discord.py calls the handlers on its event loop and expects them to return quickly; the
work runs in a tracked task per message, so a slow turn never delays the next event, a crash
is logged with the message's context, and shutdown can cancel what is still running.
"""

from __future__ import annotations

import logging

import discord

from core.inbound.gateway import GatewayResult
from core.inbound.messages import IncomingMessage
from core.notices import NOT_RECORDED
from core.ports import GatewayPort
from core.tasks import BackgroundTasks

from .outbound import DISCORD_UPLOAD_LIMIT, DiscordOutbox
from .translate import PLATFORM, incoming_message
from .typing_indicator import show_typing_until

log = logging.getLogger(__name__)


class MessageHandler:
    """Receives ``on_message`` / ``on_message_edit`` from the client (see ``client.py``)."""

    def __init__(
        self,
        client: discord.Client,
        gateway: GatewayPort,
        outbox: DiscordOutbox,
        tasks: BackgroundTasks,
        *,
        typing_interval: float,
        typing_limit: float,
    ) -> None:
        self._client = client
        self._gateway = gateway
        self._outbox = outbox
        self._tasks = tasks
        self._typing_interval = typing_interval
        self._typing_limit = typing_limit

    async def on_message(self, message: discord.Message) -> None:
        if self._ignored(message):
            return
        self._tasks.spawn(self._handle(message, edited=False), name=f"discord-message:{message.id}")

    async def on_message_edit(self, before: discord.Message, after: discord.Message) -> None:
        # Discord also sends updates for pins, link previews and the like: only new text counts.
        if self._ignored(after) or before.content == after.content:
            return
        self._tasks.spawn(self._handle(after, edited=True), name=f"discord-edit:{after.id}")

    def _ignored(self, message: discord.Message) -> bool:
        """Our own echoes, other bots and webhooks, and system messages (joins, pins...)."""
        me = self._client.user
        return (
            me is None
            or message.author.id == me.id
            or message.author.bot
            or message.webhook_id is not None
            or message.is_system()
        )

    async def _handle(self, message: discord.Message, *, edited: bool) -> None:
        me = self._client.user
        if me is None:  # the client closed in between
            return
        incoming: IncomingMessage | None = None
        try:
            incoming = incoming_message(message, me, edited=edited)
            log.debug("discord message %s: %r", incoming.delivery_id, incoming.text)
            result = await self._gateway.receive(incoming, me.name)
        except Exception:
            log.exception(
                "could not handle Discord message %s (channel %s, server %s)",
                message.id,
                message.channel.id,
                message.guild.id if message.guild else "DM",
                extra={"event_id": f"{PLATFORM}:{message.id}"},
            )
            if incoming is not None and incoming.to_the_bot:
                # Discord never delivers a message again: the person is told to resend it.
                await self._outbox.deliver(
                    incoming.address,
                    NOT_RECORDED,
                    key=f"{PLATFORM}:{incoming.delivery_id}:not-recorded",
                    context={"event_id": f"{PLATFORM}:{incoming.delivery_id}"},
                )
            return
        try:
            await self._act(message, incoming, result)
        except Exception:
            log.exception(
                "could not answer Discord message %s (channel %s)",
                message.id,
                message.channel.id,
                extra={"event_id": f"{PLATFORM}:{message.id}"},
            )

    async def _act(
        self, message: discord.Message, incoming: IncomingMessage, result: GatewayResult
    ) -> None:
        context = {
            "agent_key": result.agent_key or "-",
            "event_id": f"{PLATFORM}:{incoming.delivery_id}",
        }
        level = logging.DEBUG if result.status == "ignored" else logging.INFO  # busy channels
        log.log(level, "discord message %s: %s", incoming.delivery_id, result.status, extra=context)
        if result.reply or result.file:
            guild = message.guild
            await self._outbox.deliver(
                incoming.address,
                result.reply or "",
                # a redelivered message gets the same answer: the nonce makes it one message
                key=f"{PLATFORM}:{incoming.delivery_id}:answer",
                file=result.file,
                context=context,
                upload_limit=guild.filesize_limit if guild else DISCORD_UPLOAD_LIMIT,
            )
        if result.done is not None:
            await show_typing_until(
                message.channel,
                result.done,
                interval=self._typing_interval,
                limit=self._typing_limit,
            )
