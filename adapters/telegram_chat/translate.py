"""One Telegram update in, one platform-neutral ``IncomingMessage`` out (or nothing).

Messages and edited messages with text, a caption, a document or a photo are translated;
channel posts, service messages (joins, pins, topic creation), stickers, voice notes and
everything else are not. ``delivery_id`` is the update id, so a redelivered update becomes
the same event and the inbox drops it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from telegram import Message, Update
from telegram.constants import ChatType, MessageEntityType

from core.inbound.messages import Attachment, IncomingMessage, Sender

PLATFORM = "telegram"
_MENTIONS: list[str | None] = [MessageEntityType.MENTION, MessageEntityType.TEXT_MENTION]


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is (from getMe), to recognise mentions of it and replies to it."""

    id: int
    username: str


def incoming_message(update: Update, bot: BotIdentity) -> IncomingMessage | None:
    """The message an update carries, or None if there is nothing for the agent in it."""
    message = update.message or update.edited_message
    if message is None or message.from_user is None:
        return None
    is_edit = update.message is None
    text = message.text or message.caption or ""
    # An edit changes the words; the file in it was already taken in with the original.
    attachments = () if is_edit else _attachments(message)
    if not text.strip() and not attachments:
        return None
    user = message.from_user
    sent_at = message.edit_date if is_edit and message.edit_date else message.date
    thread = message.message_thread_id if message.is_topic_message else None
    return IncomingMessage(
        platform=PLATFORM,
        delivery_id=str(update.update_id),
        message_id=str(message.message_id),
        sender=Sender(id=str(user.id), name=user.full_name, is_bot=user.is_bot),
        channel_id=str(message.chat.id),
        text=text,
        received_at=sent_at.astimezone(UTC),
        is_direct=message.chat.type == ChatType.PRIVATE,
        thread_id=str(thread) if thread is not None else None,
        mentions_bot=_mentions(message, bot),
        replies_to_bot=_replies_to(message, bot),
        is_edit=is_edit,
        attachments=attachments,
    )


def _mentions(message: Message, bot: BotIdentity) -> bool:
    """An @username mention of the bot, or a text mention (a name linked to its account)."""
    if message.text:
        entities = message.parse_entities(_MENTIONS)
    elif message.caption:
        entities = message.parse_caption_entities(_MENTIONS)
    else:
        return False
    for entity, words in entities.items():
        if entity.type == MessageEntityType.MENTION:
            if words.lstrip("@").lower() == bot.username.lower():
                return True
        elif entity.user is not None and entity.user.id == bot.id:
            return True
    return False


def _replies_to(message: Message, bot: BotIdentity) -> bool:
    """A reply to one of the bot's messages. In a forum topic, Telegram puts the topic's
    creation message in ``reply_to_message`` of every message that replies to nothing else;
    that is not a reply to whoever created the topic."""
    target = message.reply_to_message
    return (
        target is not None
        and target.forum_topic_created is None
        and target.from_user is not None
        and target.from_user.id == bot.id
    )


def _attachments(message: Message) -> tuple[Attachment, ...]:
    if message.document is not None:
        doc = message.document
        name = doc.file_name or f"document_{doc.file_unique_id}"
        return (Attachment(filename=name, ref=doc.file_id, size=doc.file_size, mime=doc.mime_type),)
    if message.photo:
        # Telegram sends several sizes of the same picture; take the largest.
        photo = max(message.photo, key=lambda size: size.width * size.height)
        return (
            Attachment(
                filename=f"photo_{photo.file_unique_id}.jpg",
                ref=photo.file_id,
                size=photo.file_size,
                mime="image/jpeg",
            ),
        )
    return ()
