"""Bot API objects as Telegram builds them: users, chats, messages and their entities."""

from __future__ import annotations

import copy
import re
import time
from typing import Any

JSON = dict[str, Any]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024

DEFAULT_USER_ID = 1001
DEFAULT_GROUP_ID = -1001234567890

# @mentions and /commands (optionally /command@botname) not glued to a preceding word or path.
_ENTITY = re.compile(
    r"(?<![\w@/])(?:(?P<mention>@[A-Za-z]\w{3,31})"
    r"|(?P<bot_command>/[A-Za-z0-9_]{1,32}(?:@[A-Za-z]\w{3,31})?))(?!\w)"
)


def make_user(
    user_id: int = DEFAULT_USER_ID,
    first_name: str = "Ana",
    username: str | None = "ana",
    *,
    language_code: str | None = "en",
) -> JSON:
    """A Telegram ``User`` object for a human sender."""
    user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        user["username"] = username
    if language_code:
        user["language_code"] = language_code
    return user


def bot_user(bot_id: int, first_name: str, username: str) -> JSON:
    """The ``User`` object of the bot itself."""
    return {"id": bot_id, "is_bot": True, "first_name": first_name, "username": username}


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def detect_entities(text: str) -> list[JSON]:
    """``mention`` and ``bot_command`` entities as Telegram computes them (UTF-16 offsets)."""
    entities: list[JSON] = []
    for match in _ENTITY.finditer(text):
        kind = match.lastgroup or "mention"
        entities.append(
            {
                "type": kind,
                "offset": _utf16_len(text[: match.start()]),
                "length": _utf16_len(match.group()),
            }
        )
    return entities


def private_chat(user: JSON) -> JSON:
    """The private chat between the bot and ``user``."""
    chat: JSON = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    if "username" in user:
        chat["username"] = user["username"]
    return chat


def group_chat(chat_id: int, title: str, chat_type: str) -> JSON:
    return {"id": chat_id, "type": chat_type, "title": title}


def message(message_id: int, chat: JSON, sender: JSON, content: JSON) -> JSON:
    return {
        "message_id": message_id,
        "from": sender,
        "chat": chat,
        "date": int(time.time()),
        **content,
    }


def topic_created(chat: JSON, thread_id: int, sender: JSON) -> JSON:
    """The forum_topic_created service message Telegram puts in ``reply_to_message`` of topic
    messages that reply to nothing else."""
    return {
        "message_id": thread_id,
        "from": sender,
        "chat": chat,
        "date": int(time.time()),
        "message_thread_id": thread_id,
        "is_topic_message": True,
        "forum_topic_created": {"name": f"Topic {thread_id}", "icon_color": 7322096},
    }


def content(
    chat: JSON,
    *,
    reply_to: JSON | None,
    thread_id: int | None,
    text: str | None = None,
    entities: list[JSON] | None = None,
    **extra: Any,
) -> JSON:
    """A message's content: its topic, the message it replies to, text with entities."""
    body: JSON = {}
    if thread_id is not None and chat.get("is_forum"):
        body["message_thread_id"] = thread_id
        body["is_topic_message"] = True
    if reply_to is not None:
        body["reply_to_message"] = {
            k: v for k, v in copy.deepcopy(reply_to).items() if k != "reply_to_message"
        }
    if text is not None:
        body["text"] = text
        entities = detect_entities(text) if entities is None else entities
        if entities:
            body["entities"] = entities
    body.update(extra)
    return body
