"""The Telegram adapter: its lifecycle, and what it does with each update.

Updates arrive by long polling or on a webhook, one at a time and in order. Each becomes an
``IncomingMessage`` for the gateway; the adapter then does what the gateway's result says:
shows "typing…" while the agent works, sends the immediate reply (command answers, refusals,
notices) and any file. The agent's own replies come back through ``send`` (``ReplySink``), and
the upload pipeline downloads files and posts progress through ``PlatformFiles``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta

from telegram import Update
from telegram.error import Conflict, InvalidToken, TelegramError
from telegram.ext import ContextTypes

from adapters.telegram_chat.connection import (
    ALLOWED_UPDATES,
    LOCAL_UPLOAD_LIMIT,
    PUBLIC_UPLOAD_LIMIT,
    AnyApplication,
    build_application,
    is_public_api,
    webhook_path,
)
from adapters.telegram_chat.delivery import DeliveryError, RetryPolicy
from adapters.telegram_chat.files import PUBLIC_DOWNLOAD_LIMIT, download
from adapters.telegram_chat.indicator import TypingIndicators
from adapters.telegram_chat.menu import bot_commands
from adapters.telegram_chat.options import TelegramOptions
from adapters.telegram_chat.outbound import MAX_CAPTION, Outbound, Target, utf16_len
from adapters.telegram_chat.translate import BotIdentity, incoming_message
from adapters.telegram_chat.webhook import WebhookServer
from core.errors import ConfigurationError, StorageError, UploadError
from core.events import Address, SendReply
from core.inbound.gateway import GatewayResult
from core.inbound.messages import Attachment, IncomingMessage, PlatformPolicy
from core.notices import NOT_RECORDED
from core.ports import GatewayPort
from core.recent import RecentIds
from core.tasks import BackgroundTasks

log = logging.getLogger(__name__)

_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class TelegramAdapter:
    """Pagemind on Telegram. Implements ``ReplySink`` and ``PlatformFiles``.

    ``policy`` is the operator's policy for Telegram (the gateway applies it to messages);
    the adapter reads ``answer`` (to warn when privacy mode hides group messages). Replies are
    split to Telegram's limit (4096 UTF-16 code units), which this adapter owns. The keyword
    arguments tune retries and "typing…"; the defaults suit production.
    """

    def __init__(
        self,
        settings: TelegramOptions,
        gateway: GatewayPort,
        policy: PlatformPolicy,
        *,
        retry_attempts: int = 3,
        retry_delay: float = 1.0,
        rate_limit_retries: int = 3,
        typing_interval: float = 4.0,
        typing_limit: float = 300.0,
        shutdown_grace: float = 2.0,
    ) -> None:
        if settings.token is None or not settings.token.get_secret_value():
            raise ConfigurationError("set PAGEMIND_TELEGRAM_TOKEN to the token BotFather gave")
        if settings.mode == "webhook":
            webhook_path(settings)  # checks the URL is set
            secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
            if not _SECRET.fullmatch(secret):
                raise ConfigurationError(
                    "webhook mode needs PAGEMIND_TELEGRAM_WEBHOOK_SECRET: 1-256 characters of "
                    "A-Z, a-z, 0-9, _ and -, so that only Telegram can post updates"
                )
        self._settings = settings
        self._gateway = gateway
        self._policy = policy
        self._retry = RetryPolicy(attempts=retry_attempts, delay=retry_delay)
        self._rate_limit_retries = rate_limit_retries
        self._typing_interval = typing_interval
        self._typing_limit = typing_limit
        self._grace = shutdown_grace
        public = is_public_api(settings)
        self._download_limit = PUBLIC_DOWNLOAD_LIMIT if public else None
        self._upload_limit = PUBLIC_UPLOAD_LIMIT if public else LOCAL_UPLOAD_LIMIT
        self._seen_updates = RecentIds(4096)
        self._responses = BackgroundTasks()
        self._app: AnyApplication | None = None
        self._webhook: WebhookServer | None = None
        self._identity: BotIdentity | None = None
        self._outbound: Outbound | None = None
        self._typing: TypingIndicators | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def bot_username(self) -> str:
        """The bot's @username without the @ (known once started)."""
        if self._identity is None:
            raise RuntimeError("the Telegram adapter is not started")
        return self._identity.username

    @property
    def running(self) -> bool:
        return self._app is not None

    async def start(self) -> None:
        """Connect (getMe), publish the command menu, then take updates by long polling or on
        the webhook. Raises ``ConfigurationError`` if Telegram cannot be used as configured."""
        if self._app is not None:
            raise RuntimeError("the Telegram adapter is already started")
        settings = self._settings
        assert settings.token is not None
        app = build_application(
            settings,
            settings.token.get_secret_value(),
            on_update=self._on_update,
            on_error=self._on_error,
            rate_limit_retries=self._rate_limit_retries,
        )
        self._app = app
        try:
            await app.initialize()
            bot = app.bot
            self._identity = BotIdentity(id=bot.id, username=bot.username)
            self._typing = TypingIndicators(
                self._show_typing, interval=self._typing_interval, limit=self._typing_limit
            )
            self._outbound = Outbound(
                bot,
                retry=self._retry,
                upload_limit=self._upload_limit,
                on_sent=self._typing.message_sent,
            )
            self._check_privacy(bot.can_read_all_group_messages)
            await self._publish_commands()
            await app.start()
            assert app.updater is not None
            if settings.mode == "webhook":
                assert settings.webhook_secret is not None and settings.webhook_url
                secret = settings.webhook_secret.get_secret_value()
                self._webhook = WebhookServer(
                    app,
                    listen=settings.webhook_listen,
                    port=settings.webhook_port,
                    path=webhook_path(settings),
                    secret=secret,
                )
                await self._webhook.start()
                await bot.set_webhook(
                    url=settings.webhook_url,
                    allowed_updates=ALLOWED_UPDATES,
                    secret_token=secret,
                )
            else:
                await app.updater.start_polling(
                    timeout=timedelta(seconds=settings.poll_timeout),
                    allowed_updates=ALLOWED_UPDATES,
                    error_callback=self._on_polling_error,
                )
        except BaseException as exc:
            await self.stop()
            # PTB's own messages may quote the token: they are replaced, never chained.
            if isinstance(exc, InvalidToken):
                raise ConfigurationError(
                    "Telegram rejected the bot token; check PAGEMIND_TELEGRAM_TOKEN"
                ) from None
            if isinstance(exc, TelegramError):
                reason = str(exc).replace(settings.token.get_secret_value(), "<token>")
                raise ConfigurationError(
                    f"could not start the Telegram bot at {settings.api_base_url}: {reason}"
                ) from None
            raise
        log.info("Telegram bot @%s is taking updates (%s)", self._identity.username, settings.mode)

    async def stop(self) -> None:
        """Stop taking updates, end "typing…" and pending answers, close every connection.

        Fast: the open long poll is cancelled, not waited for. The webhook registration is
        left in place, since other replicas behind the same URL may still be serving it.
        """
        app, self._app = self._app, None
        if app is None:
            return
        webhook, self._webhook = self._webhook, None
        try:
            if webhook is not None:
                await webhook.stop()  # lets the update being handled finish
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()  # finishes the update being handled, if any
        finally:
            if self._typing is not None:
                await self._typing.aclose()
            await self._responses.aclose(grace=self._grace)
            self._outbound = None
            await app.shutdown()  # a no-op if initialize() failed...
            await app.bot.shutdown()  # ...so close the HTTP clients it had opened anyway

    # ------------------------------------------------------------------ ReplySink

    async def send(self, reply: SendReply) -> None:
        """Deliver one of the agent's replies. A refusal (bot blocked, chat gone) is logged;
        connection trouble that outlasts the retries raises ``DeliveryError``."""
        extra = {"agent_key": reply.agent_key, "event_id": reply.event_id}
        if reply.address is None:
            log.warning("a reply without an address was dropped", extra=extra)
            return
        outbound = self._outbound
        if outbound is None:
            log.warning("the Telegram adapter is stopped; a reply was dropped", extra=extra)
            return
        await outbound.send_text(reply.address, reply.text, key=reply.idempotency_key, extra=extra)

    # ------------------------------------------------------------------ PlatformFiles

    async def download(self, attachment: Attachment, max_bytes: int) -> bytes:
        """The bytes of a file a user sent. Raises ``UploadError`` (for the user) when it is
        over ``max_bytes``, over the Bot API's 20 MB download limit, or cannot be fetched."""
        app = self._app
        if app is None:
            raise UploadError("I'm restarting; please send the file again in a minute.")
        return await download(
            app.bot,
            attachment,
            max_bytes,
            api_limit=self._download_limit,
            retry=self._retry,
        )

    async def post_status(self, address: Address, text: str) -> str:
        """Post a status message replying to the user's; returns its id."""
        if self._outbound is None:
            raise DeliveryError("the Telegram adapter is stopped")
        return await self._outbound.post_status(address, text)

    async def edit_status(self, address: Address, message_id: str, text: str) -> None:
        """Change a status message (an unchanged text is fine)."""
        if self._outbound is not None:
            await self._outbound.edit_status(address, message_id, text)

    # ------------------------------------------------------------------ inbound

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """One update, start to finish; a failure is logged and never stops the bot."""
        extra: dict[str, object] = {"event_id": f"telegram:{update.update_id}"}
        if not self._seen_updates.first_time(update.update_id):
            log.info("update %s delivered again; skipped", update.update_id, extra=extra)
            return
        assert self._identity is not None
        message = incoming_message(update, self._identity)
        if message is None:
            return
        try:
            result = await self._gateway.receive(message, self._identity.username)
        except asyncio.CancelledError:
            raise
        except StorageError as exc:
            webhook = self._webhook
            if webhook is not None:  # not acknowledged: Telegram delivers it again
                log.warning(
                    "could not record update %s (%s); Telegram will deliver it again",
                    update.update_id,
                    exc,
                    extra=extra,
                )
                self._seen_updates.forget(update.update_id)
                webhook.refuse(update.update_id)
                return
            log.warning("could not record update %s: %s", update.update_id, exc, extra=extra)
            if message.to_the_bot:
                self._respond_later(message, GatewayResult("ignored", reply=NOT_RECORDED), extra)
            return
        except Exception:
            log.exception(
                "could not handle message %s in chat %s",
                message.message_id,
                message.channel_id,
                extra=extra,
            )
            if message.to_the_bot:
                self._respond_later(message, GatewayResult("ignored", reply=NOT_RECORDED), extra)
            return
        extra["agent_key"] = result.agent_key
        log.debug("update %s: %s", update.update_id, result.status, extra=extra)
        if result.done is not None and self._typing is not None:
            target = Target.of(message.address)
            self._typing.show_until(target.chat_id, target.thread_id, result.done)
        if result.reply or result.file:
            self._respond_later(message, result, extra)

    def _respond_later(
        self, message: IncomingMessage, result: GatewayResult, extra: dict[str, object]
    ) -> None:
        """Answer in the background, so a slow or rate-limited chat never holds up updates."""
        name = f"telegram-answer:{message.channel_id}:{message.message_id}"
        self._responses.spawn(self._respond(message.address, result, extra), name=name)

    async def _respond(
        self, address: Address, result: GatewayResult, extra: dict[str, object]
    ) -> None:
        outbound = self._outbound
        if outbound is None:
            return
        text = result.reply
        try:
            if result.file is not None:
                filename, data = result.file
                caption = text if text and utf16_len(text.strip()) <= MAX_CAPTION else None
                if text and caption is None:
                    await outbound.send_text(address, text, extra=extra)
                await outbound.send_document(address, filename, data, caption=caption, extra=extra)
            elif text:
                await outbound.send_text(address, text, extra=extra)
        except DeliveryError as exc:
            log.warning("could not answer in chat %s: %s", address.channel_id, exc, extra=extra)

    async def _show_typing(self, chat_id: int, thread_id: int | None) -> bool:
        outbound = self._outbound
        return outbound is not None and await outbound.show_typing(chat_id, thread_id)

    # ------------------------------------------------------------------ start-up helpers

    async def _publish_commands(self) -> None:
        assert self._app is not None
        try:
            await self._app.bot.set_my_commands(bot_commands())
        except TelegramError as exc:
            log.warning("could not publish the command menu (setMyCommands): %s", exc)

    def _check_privacy(self, reads_all: bool | None) -> None:
        if self._policy.answer == "always" and not reads_all:
            log.warning(
                "answer=always, but the bot's privacy mode is on: in groups it only sees "
                "commands, mentions and replies to it. Turn privacy off with BotFather "
                "(/setprivacy) and add the bot to its groups again, or make it a group admin."
            )

    # ------------------------------------------------------------------ error reporting

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """PTB's last resort: whatever escaped a handler is logged, and the bot goes on."""
        update_id = update.update_id if isinstance(update, Update) else None
        log.error(
            "error while handling a Telegram update",
            exc_info=context.error,
            extra={"event_id": f"telegram:{update_id}" if update_id else None},
        )

    @staticmethod
    def _on_polling_error(exc: TelegramError) -> None:
        if isinstance(exc, Conflict):
            log.error(
                "another process is taking this bot's updates (%s). Run one polling process "
                "per bot token, or use webhook mode behind a load balancer for several.",
                exc,
            )
        else:
            log.warning("getting updates from Telegram failed: %s; trying again", exc)
