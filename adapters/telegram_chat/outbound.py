"""Everything the bot says: replies split to fit, documents, status messages, "typing".

Text goes out as plain text (no parse mode), so whatever the agent writes can never be
rejected as malformed markup. A long reply is split on paragraph, sentence or word boundaries;
the first piece replies to the user's message (or simply goes to the chat if that message is
gone) and every piece lands in the conversation's forum topic. A group that became a
supergroup is followed to its new id.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from telegram import Bot, InputFile, Message, ReplyParameters
from telegram.constants import ChatAction, MessageLimit

from adapters.telegram_chat.delivery import (
    ONCE,
    ChatMoved,
    DeliveryError,
    DeliveryRefused,
    RetryPolicy,
    retrying,
)
from core.events import Address
from core.recent import RecentIds
from core.split import split_message

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_MESSAGE = int(MessageLimit.MAX_TEXT_LENGTH)  # 4096, counted in UTF-16 code units
MAX_CAPTION = int(MessageLimit.CAPTION_LENGTH)  # 1024
MIN_LIMIT = 40  # the splitter needs 20, and astral text is re-split at half the limit

DEFAULT_RETRY = RetryPolicy()

Extra = Mapping[str, object]
SentHook = Callable[[int, int | None], None]


@dataclass(frozen=True, slots=True)
class Target:
    """Where a message goes, in Telegram's numbers."""

    chat_id: int
    thread_id: int | None = None
    reply_to: int | None = None

    @classmethod
    def of(cls, address: Address) -> Target:
        try:
            return cls(
                chat_id=int(address.channel_id),
                thread_id=int(address.thread_id) if address.thread_id else None,
                reply_to=int(address.reply_to_message_id) if address.reply_to_message_id else None,
            )
        except ValueError:
            raise DeliveryRefused(f"not a Telegram address: {address!r}") from None


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (characters outside the BMP, like emoji, count twice)."""
    return len(text.encode("utf-16-le")) // 2


def fit(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-16 code units, cut on natural boundaries."""
    pieces: list[str] = []
    for piece in split_message(text, limit):
        if utf16_len(piece) <= limit:
            pieces.append(piece)
        else:  # full of emoji or other astral characters: each counts at most twice
            pieces.extend(split_message(piece, limit // 2))
    return pieces


def megabytes(size: int) -> str:
    return f"{size / 2**20:.0f} MB" if size >= 10 * 2**20 else f"{size / 2**20:.1f} MB"


class Outbound:
    """Sends to Telegram through ``bot``; transient failures are retried per ``retry``."""

    def __init__(
        self,
        bot: Bot,
        *,
        limit: int = MAX_MESSAGE,
        retry: RetryPolicy = DEFAULT_RETRY,
        upload_limit: int | None = None,
        on_sent: SentHook | None = None,
    ) -> None:
        self._bot = bot
        self._limit = max(MIN_LIMIT, min(limit, MAX_MESSAGE))
        self._retry = retry
        self._upload_limit = upload_limit
        self._on_sent = on_sent or (lambda chat_id, thread_id: None)
        self._delivered = RecentIds(4096)  # reply pieces sent by this process, by key
        self._moved: dict[int, int] = {}  # old group id -> its supergroup's id

    # ------------------------------------------------------------------ messages

    async def send_text(
        self, address: Address, text: str, *, key: str | None = None, extra: Extra | None = None
    ) -> int | None:
        """Send ``text`` (split to fit); the id of the first piece sent, or None if Telegram
        refused it (logged). Pieces already sent under ``key`` are not sent again, so a
        replayed reply is not repeated by this process. Raises ``DeliveryError``."""
        extra = dict(extra or {})
        try:
            target = Target.of(address)
        except DeliveryRefused as exc:
            log.warning("reply dropped: %s", exc, extra=extra)
            return None
        first: int | None = None
        for index, piece in enumerate(fit(text, self._limit)):
            piece_key = f"{key}#{index}" if key else None
            if piece_key is not None and piece_key in self._delivered:
                continue
            reply_to = target.reply_to if index == 0 else None
            try:
                message = await self._send_piece(target, piece, reply_to, extra)
            except DeliveryRefused as exc:
                self._log_refusal("message", target, exc, extra)
                return first
            if piece_key is not None:
                self._delivered.first_time(piece_key)
            first = first or message.message_id
        return first

    async def _send_piece(
        self, target: Target, text: str, reply_to: int | None, extra: Extra
    ) -> Message:
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None

        def send(chat_id: int) -> Awaitable[Message]:
            return self._bot.send_message(
                chat_id, text, message_thread_id=target.thread_id, reply_parameters=reply
            )

        message = await self._to_chat(target, send, "sendMessage", extra)
        self._on_sent(target.chat_id, target.thread_id)
        return message

    async def send_document(
        self,
        address: Address,
        filename: str,
        data: bytes,
        *,
        caption: str | None = None,
        extra: Extra | None = None,
    ) -> int | None:
        """Send a file as a document replying to the user's message; its id, or None if
        refused. A file over the bot upload limit is replaced by a message saying so."""
        extra = dict(extra or {})
        if self._upload_limit is not None and len(data) > self._upload_limit:
            note = (
                f"The file {filename} ({megabytes(len(data))}) is larger than the "
                f"{megabytes(self._upload_limit)} a Telegram bot may send, so I can't attach it."
            )
            text = f"{caption}\n\n{note}" if caption else note
            return await self.send_text(address, text, extra=extra)
        try:
            target = Target.of(address)
        except DeliveryRefused as exc:
            log.warning("document dropped: %s", exc, extra=extra)
            return None
        if caption and utf16_len(caption.strip()) > MAX_CAPTION:
            await self.send_text(address, caption, extra=extra)
            caption = None
        reply = (
            ReplyParameters(target.reply_to, allow_sending_without_reply=True)
            if target.reply_to
            else None
        )

        def send(chat_id: int) -> Awaitable[Message]:
            return self._bot.send_document(
                chat_id,
                InputFile(data, filename=filename),
                caption=caption.strip() if caption else None,
                message_thread_id=target.thread_id,
                reply_parameters=reply,
            )

        try:
            message = await self._to_chat(target, send, "sendDocument", extra)
        except DeliveryRefused as exc:
            self._log_refusal("document", target, exc, extra)
            return None
        self._on_sent(target.chat_id, target.thread_id)
        return message.message_id

    # ------------------------------------------------------------------ status messages

    async def post_status(self, address: Address, text: str) -> str:
        """Post a status message; its id. Raises ``DeliveryError`` if it cannot be posted."""
        message_id = await self.send_text(address, self._one_piece(text))
        if message_id is None:
            raise DeliveryRefused("Telegram refused the status message")
        return str(message_id)

    async def edit_status(self, address: Address, message_id: str, text: str) -> None:
        """Replace a status message's text. Best effort: a failure is logged, never raised."""
        try:
            target = Target.of(address)
            new_text = self._one_piece(text)

            def edit(chat_id: int) -> Awaitable[Message | bool]:
                return self._bot.edit_message_text(
                    new_text, chat_id=chat_id, message_id=int(message_id)
                )

            await self._to_chat(target, edit, "editMessageText", {})
        except DeliveryRefused as exc:
            if "not modified" not in exc.description.lower():
                log.warning("could not update a status message: %s", exc.description)
        except (DeliveryError, ValueError) as exc:
            log.warning("could not update a status message: %s", exc)

    # ------------------------------------------------------------------ typing

    async def show_typing(self, chat_id: int, thread_id: int | None) -> bool:
        """One "typing…" action (it shows for about 5 s); False once it cannot work here."""
        target = Target(chat_id, thread_id)

        def act(chat: int) -> Awaitable[bool]:
            return self._bot.send_chat_action(chat, ChatAction.TYPING, message_thread_id=thread_id)

        try:
            await self._to_chat(target, act, "sendChatAction", {}, retry=ONCE)
        except DeliveryRefused as exc:
            log.debug("typing not shown in chat %s: %s", chat_id, exc.description)
            return False
        except DeliveryError as exc:
            log.debug("typing not shown in chat %s: %s", chat_id, exc)
        return True

    # ------------------------------------------------------------------ helpers

    async def _to_chat(
        self,
        target: Target,
        call: Callable[[int], Awaitable[T]],
        what: str,
        extra: Extra,
        *,
        retry: RetryPolicy | None = None,
    ) -> T:
        """``call(chat_id)`` with retries, following a group that moved to a supergroup."""
        retry = retry or self._retry
        chat_id = self._moved.get(target.chat_id, target.chat_id)
        try:
            return await retrying(lambda: call(chat_id), what=what, retry=retry, extra=extra)
        except ChatMoved as moved:
            log.info(
                "chat %s became the supergroup %s; writing there",
                target.chat_id,
                moved.new_chat_id,
                extra=dict(extra),
            )
            new_id = self._moved[target.chat_id] = moved.new_chat_id
            return await retrying(lambda: call(new_id), what=what, retry=retry, extra=extra)

    def _one_piece(self, text: str) -> str:
        """A status text that fits one message (the start of it, if it is too long)."""
        pieces = fit(text, self._limit)
        return pieces[0] if pieces else "…"

    @staticmethod
    def _log_refusal(what: str, target: Target, exc: DeliveryRefused, extra: Extra) -> None:
        reason = (
            "the user blocked the bot, or it is no longer in the chat"
            if exc.blocked
            else "the request was rejected"
        )
        log.warning(
            "Telegram refused a %s to chat %s: %s (%s)",
            what,
            target.chat_id,
            exc.description,
            reason,
            extra=dict(extra),
        )
