"""Bot API calls with bounded retries of transient failures, and PTB's errors mapped to ours.

PTB raises, for a failed call: ``Forbidden`` (403: the user blocked the bot, or it was removed
from the group), ``BadRequest`` (400: chat not found, message not modified, file too big...;
note it subclasses ``NetworkError``), ``NetworkError``/``TimedOut`` (connection trouble and
5xx answers), ``RetryAfter`` (429, already retried by the rate limiter), ``ChatMigrated`` (a
group became a supergroup with a new id), ``InvalidToken`` and a few more. Only connection
trouble and 5xx are retried here; everything leaves this module as one of the errors below,
so nothing of PTB's reaches the core.

Telegram has no idempotency key: a request that timed out after Telegram processed it is sent
again by the retry, and the user sees it twice. That is the price of not losing replies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from core.errors import DeliveryError as CoreDeliveryError

log = logging.getLogger(__name__)

T = TypeVar("T")


class DeliveryError(CoreDeliveryError):
    """Telegram could not be reached, or kept failing, after the retries allowed."""


class DeliveryRefused(DeliveryError):
    """Telegram refused the request for good; retrying cannot help.

    ``description`` is Telegram's reason ("Chat not found", "File is too big"...);
    ``blocked`` tells that the bot may no longer write to that chat at all.
    """

    def __init__(self, description: str, *, blocked: bool = False) -> None:
        super().__init__(description)
        self.description = description
        self.blocked = blocked


class ChatMoved(DeliveryRefused):
    """The group became a supergroup: the same request must go to ``new_chat_id``."""

    def __init__(self, new_chat_id: int) -> None:
        super().__init__(f"the group now has the id {new_chat_id}")
        self.new_chat_id = new_chat_id


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a call failing with connection trouble or a 5xx is tried, and the first pause
    between tries (it doubles each time)."""

    attempts: int = 3
    delay: float = 1.0

    def pause(self, attempt: int) -> float:
        return float(self.delay * 2 ** (attempt - 1))


ONCE = RetryPolicy(attempts=1)


async def retrying(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    retry: RetryPolicy,
    extra: Mapping[str, object] | None = None,
) -> T:
    """``await call()``, retrying transient failures; PTB's errors come out as ours."""
    attempt = 1
    while True:
        try:
            return await call()
        except ChatMigrated as exc:
            raise ChatMoved(exc.new_chat_id) from exc
        except Forbidden as exc:
            raise DeliveryRefused(exc.message, blocked=True) from exc
        except BadRequest as exc:
            raise DeliveryRefused(exc.message) from exc
        except RetryAfter as exc:
            raise DeliveryError(f"{what}: Telegram is still rate-limiting the bot ({exc})") from exc
        except NetworkError as exc:  # connection trouble, timeouts, 5xx
            if attempt >= retry.attempts:
                raise DeliveryError(f"{what} failed after {attempt} attempts: {exc}") from exc
            pause = retry.pause(attempt)
            log.info(
                "%s failed (%s); trying again in %.1f s", what, exc, pause, extra=dict(extra or {})
            )
            attempt += 1
            await asyncio.sleep(pause)
        except TelegramError as exc:  # InvalidToken, Conflict, EndPointNotFound...
            raise DeliveryError(f"{what} failed: {exc}") from exc
