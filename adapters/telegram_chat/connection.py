"""Building the Bot API client from settings: endpoints, timeouts and flood control.

The API base URL comes from the settings, so a self-hosted Bot API server (which lifts the
20 MB download limit) is just another URL; PTB appends ``/bot<token>/<method>`` and
``/file/bot<token>/<path>``. Nothing here does I/O: the client connects in ``initialize``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

from telegram import Update
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, TypeHandler

from adapters.telegram_chat.options import TelegramOptions
from core.errors import ConfigurationError

PUBLIC_API_HOST = "api.telegram.org"
PUBLIC_UPLOAD_LIMIT = 50 * 2**20  # what a bot may send through the public Bot API
LOCAL_UPLOAD_LIMIT = 2000 * 2**20  # ... and through a self-hosted one
ALLOWED_UPDATES = ("message", "edited_message")

# Seconds. getUpdates adds its long-poll timeout to the read timeout by itself.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 15.0
WRITE_TIMEOUT = 30.0  # documents
POOL_TIMEOUT = 5.0

AnyApplication = Application[Any, Any, Any, Any, Any, Any]
UpdateCallback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]
ErrorCallback = Callable[[object, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


class FloodControl(AIORateLimiter):
    """PTB's rate limiter (30 messages/s overall, 20 a minute per group, 429s retried after the
    time Telegram asks) except for chat actions: "typing…" is not a message, must never wait
    in a group's queue nor delay an answer, and a failed one is simply skipped."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if endpoint == "sendChatAction":
            return await callback(*args, **kwargs)
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )


def api_root(settings: TelegramOptions) -> str:
    return settings.api_base_url.rstrip("/")


def is_public_api(settings: TelegramOptions) -> bool:
    return urlsplit(api_root(settings)).hostname == PUBLIC_API_HOST


def webhook_path(settings: TelegramOptions) -> str:
    """The path the webhook server listens on: the path of the public webhook URL (a load
    balancer or reverse proxy in front must forward it unchanged)."""
    if not settings.webhook_url:
        raise ConfigurationError(
            "PAGEMIND_TELEGRAM_MODE=webhook needs PAGEMIND_TELEGRAM_WEBHOOK_URL, the public "
            "HTTPS URL Telegram should post updates to"
        )
    return urlsplit(settings.webhook_url).path.strip("/")


def build_application(
    settings: TelegramOptions,
    token: str,
    *,
    on_update: UpdateCallback,
    on_error: ErrorCallback,
    rate_limit_retries: int,
) -> AnyApplication:
    """An unstarted PTB ``Application`` that hands every update to ``on_update``, in order."""
    api = api_root(settings)
    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .rate_limiter(FloodControl(max_retries=rate_limit_retries))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .write_timeout(WRITE_TIMEOUT)
        .pool_timeout(POOL_TIMEOUT)
        .get_updates_connect_timeout(CONNECT_TIMEOUT)
        .get_updates_read_timeout(READ_TIMEOUT)
        .get_updates_pool_timeout(POOL_TIMEOUT)
        .job_queue(None)  # timers are the scheduler adapter's job, not PTB's
        # One update at a time: the gateway records events in the order they came.
        .concurrent_updates(False)
        .build()
    )
    app.add_handler(TypeHandler(Update, on_update))
    app.add_error_handler(on_error)
    return app
