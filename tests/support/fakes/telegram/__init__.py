"""A protocol fake of the Telegram Bot API on 127.0.0.1, for driving python-telegram-bot in tests.

Usage::

    async with FakeTelegram(bot_username="pagemind_bot") as tg:
        app = (
            ApplicationBuilder()
            .token("123:TEST")
            .base_url(tg.api_base)
            .base_file_url(tg.file_base)
            .build()
        )
        update = tg.push_private_message("hello")
        ...
        call = await tg.wait_for("sendMessage")

It speaks HTTP like the real Bot API (form-encoded with JSON-string values, JSON, or multipart;
``{"ok": ...}`` envelopes; the HTTP status equals ``error_code``), keeps a queue of updates with
real ``getUpdates`` long-poll/offset semantics, stores the messages of every chat so replies and
edits are checked like Telegram checks them, serves uploaded and registered files, and records
every call. See ``NOTES.md`` in this package for what is and isn't simulated.

The package, by idea: ``routes`` (the HTTP handlers and Bot API methods), ``state`` (chats,
messages, files, the update queue, recorded calls), ``payloads`` (the Bot API objects),
``faults`` (scripted failures) and ``fake`` (``FakeTelegram``, which puts them together).
"""

from tests.support.fakes.telegram.fake import FakeTelegram
from tests.support.fakes.telegram.faults import TelegramAPIError
from tests.support.fakes.telegram.payloads import (
    DEFAULT_GROUP_ID,
    DEFAULT_USER_ID,
    JSON,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    detect_entities,
    make_user,
)
from tests.support.fakes.telegram.state import MAX_DOWNLOAD_SIZE, Call, UploadedFile

__all__ = [
    "DEFAULT_GROUP_ID",
    "DEFAULT_USER_ID",
    "JSON",
    "MAX_CAPTION_LENGTH",
    "MAX_DOWNLOAD_SIZE",
    "MAX_TEXT_LENGTH",
    "Call",
    "FakeTelegram",
    "TelegramAPIError",
    "UploadedFile",
    "detect_entities",
    "make_user",
]
