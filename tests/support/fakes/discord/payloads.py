"""Discord's objects as the REST API and the Gateway send them: members, channels, the guild,
messages, attachments, interactions, the application, READY."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support.fakes.discord.state import FakeChannel, FakeGuild, FakeUser

Json = dict[str, Any]

DISCORD_EPOCH_MS = 1_420_070_400_000

# Gateway intent bits (https://discord.com/developers/docs/events/gateway#gateway-intents).
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT
# Application flags that say a privileged intent is enabled for the app.
_APP_FLAG = {GUILD_PRESENCES: 1 << 12, GUILD_MEMBERS: 1 << 14, MESSAGE_CONTENT: 1 << 18}

# Channel and message types used here.
TEXT_CHANNEL, DM_CHANNEL, PUBLIC_THREAD = 0, 1, 11
DEFAULT, REPLY, SLASH_COMMAND = 0, 19, 20
EPHEMERAL, LOADING = 1 << 6, 1 << 7

# What the @everyone role may do: view, send, embed, attach, history, react, app commands,
# create and post in public threads. Enough for the bot's own permission checks to pass.
EVERYONE_PERMISSIONS = sum(1 << b for b in (6, 10, 11, 14, 15, 16, 31, 35, 38))
_MENTION = re.compile(r"<@!?(\d+)>")


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def application_flags(allowed_intents: int | None) -> int:
    allowed = PRIVILEGED_INTENTS if allowed_intents is None else allowed_intents
    return sum(flag for intent, flag in _APP_FLAG.items() if allowed & intent)


def me(bot: FakeUser) -> Json:
    """The bot's own user object (GET /users/@me, READY)."""
    return bot.payload() | {"verified": True, "mfa_enabled": False, "flags": 0}


def member(user: FakeUser, joined_at: str) -> Json:
    return {
        "user": user.payload(),
        "roles": [],
        "joined_at": joined_at,
        "nick": None,
        "avatar": None,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }


def channel(channel: FakeChannel, *, position: int, owner: FakeUser, joined_at: str) -> Json:
    """A channel; ``position`` is its place among the guild's channels."""
    base: Json = {"id": str(channel.id), "type": channel.type, "flags": 0}
    base["last_message_id"] = None
    if channel.type == DM_CHANNEL:
        assert channel.recipient is not None
        return base | {"recipients": [channel.recipient.payload()]}
    base |= {
        "guild_id": str(channel.guild_id),
        "name": channel.name,
        "rate_limit_per_user": 0,
        "parent_id": str(channel.parent_id) if channel.parent_id else None,
    }
    if channel.type == PUBLIC_THREAD:
        return base | {
            "owner_id": str(owner.id),
            "message_count": 0,
            "member_count": 2,
            "total_message_sent": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": joined_at,
                "locked": False,
            },
        }
    return base | {
        "position": position,
        "topic": None,
        "nsfw": False,
        "permission_overwrites": [],
    }


def guild(
    guild: FakeGuild,
    *,
    members: Sequence[Json],
    channels: Sequence[Json],
    threads: Sequence[Json],
    owner: FakeUser,
    joined_at: str,
    system_channel: FakeChannel,
) -> Json:
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "owner_id": str(owner.id),
        "unavailable": False,
        "large": False,
        "member_count": len(guild.members),
        "joined_at": joined_at,
        "roles": [
            {
                "id": str(guild.id),
                "name": "@everyone",
                "permissions": str(EVERYONE_PERMISSIONS),
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "members": list(members),
        "channels": list(channels),
        "threads": list(threads),
        "emojis": [],
        "stickers": [],
        "features": [],
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "preferred_locale": "en-US",
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "afk_timeout": 300,
        "system_channel_id": str(system_channel.id),
    }


def mentioned_ids(content: str, reply_to: Json | None, reply_ping: bool) -> list[int]:
    """Who a message mentions: ``<@id>`` markup, plus the replied-to author when pinged."""
    ids = [int(m) for m in _MENTION.findall(content)]
    if reply_to is not None and reply_ping:
        ids.append(int(reply_to["author"]["id"]))
    return ids


def message(
    message_id: int,
    channel: FakeChannel,
    author: FakeUser,
    content: str,
    *,
    mentions: list[Json],
    attachments: Sequence[Json],
    reply_to: Json | None,
    **extra: Any,
) -> Json:
    """A message in the REST shape (no guild_id or member)."""
    body: Json = {
        "id": str(message_id),
        "type": REPLY if reply_to is not None else DEFAULT,
        "channel_id": str(channel.id),
        "author": author.payload(),
        "content": content,
        "timestamp": now_iso(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": mentions,
        "mention_roles": [],
        "attachments": list(attachments),
        "embeds": [],
        "components": [],
        "pinned": False,
        "flags": 0,
    }
    if reply_to is not None:
        body["message_reference"] = {
            "type": 0,
            "message_id": reply_to["id"],
            "channel_id": reply_to["channel_id"],
        }
        if channel.guild_id is not None:
            body["message_reference"]["guild_id"] = str(channel.guild_id)
        referenced = dict(reply_to)
        referenced.pop("referenced_message", None)
        body["referenced_message"] = referenced
    body.update(extra)
    return body


def gateway_message(message: Json, guild_id: int, member_of: Callable[[int], Json]) -> Json:
    """The gateway shape of a guild message: guild_id and member objects added
    (``member_of(user_id)`` is that user's member object)."""

    def member_only(user_id: str) -> Json:
        found = member_of(int(user_id))
        del found["user"]
        return found

    author = member_only(message["author"]["id"])
    mentions = [m | {"member": member_only(m["id"])} for m in message["mentions"]]
    return message | {"guild_id": str(guild_id), "member": author, "mentions": mentions}


def attachment(attachment_id: int, filename: str, size: int, url: str, ctype: str) -> Json:
    return {
        "id": str(attachment_id),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url,
        "content_type": ctype,
    }


def slash_command(
    *,
    interaction_id: int,
    application_id: int,
    command: Json,
    options: dict[str, str | int | float | bool],
    channel_id: int,
    channel: Json,
    guild_id: int | None,
    member: Json | None,
    user: FakeUser,
) -> Json:
    """INTERACTION_CREATE of type 2 for ``/name`` with flat options."""
    type_of = {bool: 5, int: 4, float: 10, str: 3}
    data: Json = {
        "id": command["id"],
        "name": command["name"],
        "type": 1,
        "options": [{"name": k, "type": type_of[type(v)], "value": v} for k, v in options.items()],
    }
    if command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    interaction: Json = {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": 2,
        "token": "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48),
        "version": 1,
        "data": data,
        "channel_id": str(channel_id),
        "channel": channel,
        "app_permissions": str(EVERYONE_PERMISSIONS),
        "locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": 10 * 1024 * 1024,
    }
    if guild_id is not None:
        assert member is not None
        interaction.update(
            guild_id=str(guild_id),
            guild_locale="en-US",
            member=member | {"permissions": str(EVERYONE_PERMISSIONS)},
            context=0,
            authorizing_integration_owners={"0": str(guild_id)},
        )
    else:
        interaction.update(
            user=user.payload(), context=1, authorizing_integration_owners={"0": "0"}
        )
    return interaction


def application(bot: FakeUser, owner: FakeUser, application_id: int, flags: int) -> Json:
    return {
        "id": str(application_id),
        "name": bot.username,
        "description": "",
        "icon": None,
        "bot_public": False,
        "bot_require_code_grant": False,
        "owner": owner.payload(),
        "verify_key": secrets.token_hex(32),
        "flags": flags,
        "bot": bot.payload(),
        "team": None,
        "interactions_endpoint_url": None,
        "redirect_uris": [],
        "tags": [],
    }


def ready(
    bot: FakeUser,
    *,
    guild_id: int,
    session_id: str,
    resume_url: str,
    application_id: int,
    flags: int,
    shard: list[int] | None,
) -> Json:
    body: Json = {
        "v": 10,
        "user": me(bot),
        "guilds": [{"id": str(guild_id), "unavailable": True}],
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": resume_url,
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": [],
        "application": {"id": str(application_id), "flags": flags},
        "_trace": ["fake-gw"],
    }
    if shard is not None:
        body["shard"] = shard
    return body


def members_chunk(guild_id: int, members: list[Json], nonce: Any) -> Json:
    chunk: Json = {
        "guild_id": str(guild_id),
        "members": members,
        "chunk_index": 0,
        "chunk_count": 1,
        "not_found": [],
    }
    if nonce is not None:
        chunk["nonce"] = nonce
    return chunk
