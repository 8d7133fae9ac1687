"""Discord objects -> the core's platform-neutral ``IncomingMessage``.

The one place that reads discord.py's ``Message`` and ``Interaction``. Conventions:

* ``channel_id`` is where the conversation lives: the text channel, or a thread's **parent**
  channel, with the thread in ``thread_id``. Allowlists and channel-scoped agents therefore
  cover a channel's threads, thread-scoped agents get one agent per thread, and replies are
  sent to ``thread_id or channel_id`` (in Discord a thread is a channel of its own).
* ``delivery_id`` is the message id (a redelivered MESSAGE_CREATE repeats it); an edit adds
  its edit time, so each edit is a delivery of its own and its redelivery is still a repeat.
* ``text`` drops a leading mention of the bot (so "@Pagemind /memory" is a command) and shows
  other user mentions as ``@name`` rather than ``<@1234>``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import discord

from core.inbound.commands import Command
from core.inbound.messages import Attachment, IncomingMessage, Sender

PLATFORM = "discord"
_USER_MENTION = re.compile(r"<@!?(\d+)>")


def incoming_message(
    message: discord.Message, bot: discord.abc.User, *, edited: bool = False
) -> IncomingMessage:
    """The core's view of a Discord message (or of its edited version)."""
    channel_id, thread_id = place(message.channel)
    if edited:
        received_at = message.edited_at or datetime.now(UTC)
        delivery_id = f"{message.id}@{int(received_at.timestamp() * 1000)}"
    else:
        received_at, delivery_id = message.created_at, str(message.id)
    return IncomingMessage(
        platform=PLATFORM,
        delivery_id=delivery_id,
        message_id=str(message.id),
        sender=sender(message.author),
        channel_id=channel_id,
        text=readable_text(message, bot),
        received_at=received_at,
        is_direct=message.guild is None,
        workspace_id=str(message.guild.id) if message.guild else None,
        thread_id=thread_id,
        mentions_bot=mentions_bot(message, bot),
        replies_to_bot=replies_to_bot(message, bot),
        is_edit=edited,
        attachments=tuple(attachment(a) for a in message.attachments),
    )


def incoming_command(interaction: discord.Interaction, command: Command) -> IncomingMessage:
    """The core's view of a slash command, for ``Gateway.command`` (allowlists, scope)."""
    channel = interaction.channel
    if channel is not None:
        channel_id, thread_id = place(channel)
    else:
        channel_id, thread_id = str(interaction.channel_id or interaction.user.id), None
    text = f"/{command.name} {command.argument}".strip()
    return IncomingMessage(
        platform=PLATFORM,
        delivery_id=f"interaction:{interaction.id}",
        message_id=str(interaction.id),
        sender=sender(interaction.user),
        channel_id=channel_id,
        text=text,
        received_at=interaction.created_at,
        is_direct=interaction.guild_id is None,
        workspace_id=str(interaction.guild_id) if interaction.guild_id else None,
        thread_id=thread_id,
    )


def place(channel: object) -> tuple[str, str | None]:
    """``(channel_id, thread_id)`` for a channel: a thread is placed under its parent."""
    if isinstance(channel, discord.Thread):
        return str(channel.parent_id), str(channel.id)
    channel_id = getattr(channel, "id", None)
    if channel_id is None:
        raise ValueError(f"not a Discord channel: {channel!r}")
    return str(channel_id), None


def sender(user: discord.abc.User) -> Sender:
    return Sender(id=str(user.id), name=user.display_name, is_bot=user.bot)


def attachment(item: discord.Attachment) -> Attachment:
    """``ref`` is the attachment's (signed, absolute) CDN URL: what ``download`` fetches."""
    return Attachment(filename=item.filename, ref=item.url, size=item.size, mime=item.content_type)


def mentions_bot(message: discord.Message, bot: discord.abc.User) -> bool:
    """The bot is in ``message.mentions`` (its ``<@id>``, or a reply to it that pings), or its
    own managed role was mentioned (Discord's autocomplete sometimes offers the role)."""
    if any(user.id == bot.id for user in message.mentions):
        return True
    return any(
        role.tags is not None and role.tags.bot_id == bot.id for role in message.role_mentions
    )


def replies_to_bot(message: discord.Message, bot: discord.abc.User) -> bool:
    """A reply (not a forward) to one of the bot's messages, even one that does not ping."""
    reference = message.reference
    if reference is None or reference.type is not discord.MessageReferenceType.reply:
        return False
    replied = reference.resolved or reference.cached_message
    return isinstance(replied, discord.Message) and replied.author.id == bot.id


def readable_text(message: discord.Message, bot: discord.abc.User) -> str:
    content = re.sub(rf"^\s*<@!?{bot.id}>[\s,:]*", "", message.content)
    names = {user.id: user.display_name for user in message.mentions}
    names.setdefault(bot.id, bot.display_name)

    def name(match: re.Match[str]) -> str:
        found = names.get(int(match.group(1)))
        return f"@{found}" if found else match.group(0)

    return _USER_MENTION.sub(name, content)
