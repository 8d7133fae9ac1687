"""Slack payloads (Events API ``message`` events, slash commands) as ``IncomingMessage``.

Pure functions over the JSON Slack sends; nothing here talks to Slack. The core never sees a
Slack payload: only what these functions return.

Choices worth knowing:

* Only ``message`` events are translated. A mention in a channel also arrives as a separate
  ``app_mention`` event with its own ``event_id``; the adapter acknowledges and drops it, so a
  mention is processed once (see ``listeners.py``).
* ``received_at`` is the Slack timestamp of the message (of the edit, for an edit), so a
  redelivery translates to exactly the same message.
* A top-level channel message gets ``thread_id = ts``: the answer opens a thread under it
  instead of filling the channel. In a DM the answer stays in the conversation, unless the
  user wrote in a thread.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.inbound.messages import Attachment, IncomingMessage, Sender

Payload = Mapping[str, Any]

#: Message subtypes that are something a person said. Others (joins, topic changes,
#: deletions, bot messages...) are acknowledged and dropped.
SPOKEN_SUBTYPES = frozenset({"", "file_share", "thread_broadcast", "me_message"})
EDITED = "message_changed"


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is in its workspace, from ``auth.test``."""

    user_id: str
    name: str
    team_id: str


@dataclass(frozen=True, slots=True)
class Author:
    user_id: str
    is_bot: bool


def spoken_message(event: Payload) -> Payload | None:
    """The message an event carries (the new version, for an edit), or None when the event
    is not something a person said or an edit that changed nothing (Slack also sends
    ``message_changed`` when it unfurls a link)."""
    subtype = str(event.get("subtype") or "")
    if subtype == EDITED:
        new, old = event.get("message"), event.get("previous_message")
        if not isinstance(new, Mapping):
            return None
        if isinstance(old, Mapping) and old.get("text") == new.get("text"):
            return None
        if str(new.get("subtype") or "") not in SPOKEN_SUBTYPES:
            return None
        return new
    return event if subtype in SPOKEN_SUBTYPES else None


def author_of(message: Payload, bot: BotIdentity) -> Author | None:
    """Who wrote ``message`` (from :func:`spoken_message`); bots and the app itself are
    marked so the gateway ignores them."""
    user = message.get("user")
    bot_id = message.get("bot_id")
    if not user and not bot_id:
        return None
    user_id = str(user or bot_id)
    return Author(user_id, is_bot=bool(bot_id) or user_id == bot.user_id)


def incoming_message(
    event: Payload,
    *,
    event_id: str,
    team_id: str,
    bot: BotIdentity,
    sender_name: str | None = None,
) -> IncomingMessage | None:
    """The ``IncomingMessage`` for a ``message`` event, or None if it is not one to handle."""
    message = spoken_message(event)
    channel = event.get("channel")
    if message is None or not channel:
        return None
    author = author_of(message, bot)
    if author is None:
        return None
    is_edit = event.get("subtype") == EDITED
    raw = str(message.get("text") or "")
    ts = str(message.get("ts") or event.get("ts") or "")
    stamp = str(event.get("event_ts") or event.get("ts") or ts) if is_edit else ts
    is_direct = (event.get("channel_type") or message.get("channel_type")) == "im"
    thread_ts = message.get("thread_ts")
    in_thread = bool(thread_ts) and thread_ts != ts
    thread_id = str(thread_ts) if in_thread else (None if is_direct else ts)
    return IncomingMessage(
        platform="slack",
        delivery_id=event_id,
        message_id=ts,
        sender=Sender(author.user_id, sender_name or author.user_id, is_bot=author.is_bot),
        channel_id=str(channel),
        text=clean_text(raw, bot),
        received_at=slack_time(stamp),
        is_direct=is_direct,
        workspace_id=team_id or bot.team_id,
        thread_id=thread_id,
        mentions_bot=f"<@{bot.user_id}" in raw,
        replies_to_bot=in_thread and message.get("parent_user_id") == bot.user_id,
        is_edit=is_edit,
        attachments=attachments(message),
    )


def command_message(payload: Payload, bot: BotIdentity) -> IncomingMessage:
    """The ``IncomingMessage`` for a slash command (its text is the whole argument line)."""
    channel = str(payload.get("channel_id") or "")
    trigger = str(payload.get("trigger_id") or "")
    user = str(payload.get("user_id") or "")
    return IncomingMessage(
        platform="slack",
        delivery_id=f"command:{trigger}",
        message_id=trigger,
        sender=Sender(user, str(payload.get("user_name") or user)),
        channel_id=channel,
        text=str(payload.get("text") or ""),
        received_at=datetime.now(UTC),
        is_direct=channel.startswith("D") or payload.get("channel_name") == "directmessage",
        workspace_id=str(payload.get("team_id") or bot.team_id),
    )


def attachments(message: Payload) -> tuple[Attachment, ...]:
    """The files shared with a message; ``ref`` is the Slack file id (for files.info)."""
    found = []
    for shared in message.get("files") or ():
        if not isinstance(shared, Mapping) or not shared.get("id"):
            continue
        if shared.get("mode") == "tombstone":  # deleted before we saw it
            continue
        size = shared.get("size")
        found.append(
            Attachment(
                filename=str(shared.get("name") or shared.get("title") or shared["id"]),
                ref=str(shared["id"]),
                size=int(size) if isinstance(size, int | float) else None,
                mime=str(shared["mimetype"]) if shared.get("mimetype") else None,
            )
        )
    return tuple(found)


def clean_text(raw: str, bot: BotIdentity) -> str:
    """What the person wrote, for the agent: the leading ``<@BOT>`` mention removed (so
    ``@pagemind !memory`` is a command), later ones shown as ``@name``, and Slack's
    ``&amp; &lt; &gt;`` escapes undone."""
    mention = re.compile(rf"<@{re.escape(bot.user_id)}(?:\|[^>]*)?>")
    text = raw.strip()
    leading = mention.match(text)
    if leading:
        text = text[leading.end() :].lstrip(" :,")
    text = mention.sub(f"@{bot.name}", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def slack_time(ts: str) -> datetime:
    """A Slack timestamp (``"1700000000.000042"``) as an aware datetime."""
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except ValueError:
        return datetime.now(UTC)
