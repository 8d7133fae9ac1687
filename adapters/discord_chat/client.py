"""Building the discord.py client: intents, sharding, mention safety, and where its message
events go (a typed receiver instead of handlers attached by name at run time)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

import discord

from adapters.discord_chat.options import DiscordOptions
from core.errors import ConfigurationError

log = logging.getLogger(__name__)


class MessageEvents(Protocol):
    """Receives the gateway's message events (must return quickly: work goes elsewhere)."""

    async def on_message(self, message: discord.Message) -> None: ...

    async def on_message_edit(self, before: discord.Message, after: discord.Message) -> None: ...


class _Routed:
    """Forwards discord.py's message events to a ``MessageEvents`` receiver."""

    receiver: MessageEvents | None = None

    async def on_message(self, message: discord.Message) -> None:
        if self.receiver is not None:
            await self.receiver.on_message(message)

    async def on_message_edit(self, before: discord.Message, after: discord.Message) -> None:
        if self.receiver is not None:
            await self.receiver.on_message_edit(before, after)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        log.exception("unhandled error in Discord event %s", event_method)


class PagemindClient(_Routed, discord.Client):
    """One gateway connection: enough below ~2,500 servers."""


class PagemindShardedClient(_Routed, discord.AutoShardedClient):
    """Several shards in one process (``shard_ids``, or all of ``shard_count``)."""


def intents_for(settings: DiscordOptions) -> discord.Intents:
    """Servers, server and DM messages; message content only if the operator enabled it (it
    is privileged: without it server messages arrive empty unless they mention the bot)."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = settings.message_content_intent
    return intents


def build_client(settings: DiscordOptions, *, guild_ready_timeout: float) -> discord.Client:
    """A client that is not connected yet (no I/O happens here)."""
    options: dict[str, Any] = {
        "intents": intents_for(settings),
        # The model writes the replies: it must never be able to ping @everyone or a role.
        "allowed_mentions": discord.AllowedMentions(
            everyone=False, roles=False, users=True, replied_user=True
        ),
        "guild_ready_timeout": guild_ready_timeout,
        "chunk_guilds_at_startup": False,  # no member list needed (and no members intent)
        "enable_debug_events": False,
    }
    shard_ids = [_shard_id(s) for s in settings.shard_ids]
    if shard_ids and settings.shard_count is None:
        raise ConfigurationError(
            "PAGEMIND_DISCORD_SHARD_IDS needs PAGEMIND_DISCORD_SHARD_COUNT (the total number "
            "of shards across all replicas)"
        )
    if settings.shard_count is not None:
        if any(s >= settings.shard_count for s in shard_ids):
            raise ConfigurationError(
                f"PAGEMIND_DISCORD_SHARD_IDS must be below PAGEMIND_DISCORD_SHARD_COUNT "
                f"({settings.shard_count}); got {shard_ids}"
            )
        if shard_ids:
            options["shard_ids"] = shard_ids  # else: all of them, in this process
        client: discord.Client = PagemindShardedClient(shard_count=settings.shard_count, **options)
    else:
        client = PagemindClient(**options)
    return client


def route_events(client: discord.Client, receiver: MessageEvents) -> None:
    """Send ``client``'s message events to ``receiver``."""
    if not isinstance(client, _Routed):
        raise TypeError("the client was not built by build_client")
    client.receiver = receiver


def _shard_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigurationError(
            f"PAGEMIND_DISCORD_SHARD_IDS must be whole numbers; got {text!r}"
        ) from None
    if value < 0:
        raise ConfigurationError(f"a shard id cannot be negative; got {value}")
    return value
