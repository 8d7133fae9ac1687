"""Downloading a file a user sent, with sizes checked before a byte is fetched.

The public Bot API lets a bot download files up to 20 MB (``getFile`` answers "file is too
big" beyond). A self-hosted Bot API server started with ``--local`` has no such limit; then
only the caller's ``max_bytes`` applies. Every refusal is an ``UploadError`` whose message is
written for the user.
"""

from __future__ import annotations

from telegram import Bot

from adapters.telegram_chat.delivery import (
    DeliveryError,
    DeliveryRefused,
    RetryPolicy,
    retrying,
)
from adapters.telegram_chat.outbound import megabytes
from core.errors import UploadError
from core.inbound.messages import Attachment

PUBLIC_DOWNLOAD_LIMIT = 20 * 2**20


def too_big_for_telegram(name: str, size: int | None) -> UploadError:
    shown = f" is {megabytes(size)}" if size else " is too large"
    return UploadError(
        f"“{name}”{shown}, and Telegram lets bots download files only up to 20 MB. "
        "Please send a smaller file, or split it into parts."
    )


def too_big_for_me(name: str, size: int, max_bytes: int) -> UploadError:
    return UploadError(
        f"“{name}” is {megabytes(size)}; I can take files up to {megabytes(max_bytes)}. "
        "Please send a smaller file, or split it into parts."
    )


def check_size(name: str, size: int | None, max_bytes: int, api_limit: int | None) -> None:
    """Raise ``UploadError`` if a file of ``size`` bytes (None: unknown) cannot be taken."""
    if size is None:
        return
    if api_limit is not None and size > api_limit:
        raise too_big_for_telegram(name, size)
    if size > max_bytes:
        raise too_big_for_me(name, size, max_bytes)


async def download(
    bot: Bot,
    attachment: Attachment,
    max_bytes: int,
    *,
    api_limit: int | None,
    retry: RetryPolicy,
) -> bytes:
    """The bytes of ``attachment`` (``ref`` is its file id). Raises ``UploadError``."""
    name = attachment.filename
    check_size(name, attachment.size, max_bytes, api_limit)
    try:
        file = await retrying(lambda: bot.get_file(attachment.ref), what="getFile", retry=retry)
    except DeliveryRefused as exc:
        if "too big" in exc.description.lower():
            raise too_big_for_telegram(name, attachment.size) from exc
        raise UploadError(
            f"Telegram would not give me “{name}” ({exc.description}). Please send it again."
        ) from exc
    except DeliveryError as exc:
        raise UploadError(
            f"I couldn't fetch “{name}” from Telegram just now; please send it again in a moment."
        ) from exc
    check_size(name, file.file_size, max_bytes, api_limit)
    try:
        data = await retrying(file.download_as_bytearray, what="file download", retry=retry)
    except DeliveryError as exc:
        raise UploadError(
            f"I couldn't download “{name}” from Telegram just now; please send it again in a "
            "moment."
        ) from exc
    if len(data) > max_bytes:
        raise too_big_for_me(name, len(data), max_bytes)
    return bytes(data)
