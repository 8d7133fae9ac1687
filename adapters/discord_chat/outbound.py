"""Everything Pagemind sends to Discord or fetches from it over REST: replies (split to fit,
threaded, idempotent), status messages for uploads, and attachment downloads.

Idempotency: every piece of a reply carries a nonce derived from the reply's idempotency key
and the piece's index, sent with ``enforce_nonce``. Discord then answers a repeated send (a
retry after a timeout, a replayed turn, a redelivered message) with the message it already
created instead of posting it again. Discord keeps nonces for a few minutes only.

Errors: discord.py retries 429s and some 5xx itself; timeouts, connection errors and a 5xx
that outlived those retries are retried here a few times (safe thanks to the nonce). What
cannot be delivered (no permission, channel gone, rejected) is logged with the agent and event
ids and dropped: no discord.py exception leaves this module. Downloads raise ``UploadError``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import aiohttp
import discord

from core.errors import UploadError
from core.events import Address, SendReply
from core.inbound.messages import Attachment
from core.split import split_message

log = logging.getLogger(__name__)

DISCORD_MESSAGE_LIMIT = 2000
DISCORD_UPLOAD_LIMIT = 10 * 2**20  # for bots in DMs and unboosted servers
_TRANSIENT = (discord.DiscordServerError, aiohttp.ClientError, OSError, TimeoutError)
_T = TypeVar("_T")


def fit_file(
    text: str, file: tuple[str, bytes] | None, limit: int
) -> tuple[str, tuple[str, bytes] | None]:
    """``text`` and ``file`` as they can be sent: a file above Discord's upload ``limit``
    is left out and the text says so (Discord would refuse the whole message)."""
    if file is None or len(file[1]) <= limit:
        return text, file
    name, data = file
    note = (
        f"({name} is {_megabytes(len(data))}, more than Discord lets me upload here: "
        f"{_megabytes(limit)}.)"
    )
    return f"{text}\n\n{note}".strip(), None


def nonce_for(key: str, index: int) -> str:
    """A stable nonce for piece ``index`` of the reply with idempotency key ``key`` (a 63-bit
    number as text: Discord takes up to 25 characters)."""
    digest = hashlib.sha256(f"{key}#{index}".encode()).digest()
    return str(int.from_bytes(digest[:8], "big") >> 1)


class DiscordOutbox:
    """Sends and fetches through one discord.py client."""

    def __init__(
        self,
        client: discord.Client,
        *,
        limit: int = DISCORD_MESSAGE_LIMIT,
        timeout: float = 60.0,
        retries: int = 2,
        retry_delay: float = 1.0,
    ) -> None:
        self._client = client
        self._limit = min(limit, DISCORD_MESSAGE_LIMIT)
        self._timeout = timeout
        self._retries = retries
        self._retry_delay = retry_delay

    # ------------------------------------------------------------------ replies

    async def send_reply(self, reply: SendReply) -> None:
        """Deliver one of the agent's replies (the ``ReplySink`` side of the adapter)."""
        context = {"agent_key": reply.agent_key, "event_id": reply.event_id}
        if reply.address is None:
            log.warning("a Discord reply with no address was dropped", extra=context)
            return
        if self._client.is_closed():
            log.warning("the Discord adapter is stopped; a reply was dropped", extra=context)
            return
        await self.deliver(reply.address, reply.text, key=reply.idempotency_key, context=context)

    async def deliver(
        self,
        address: Address,
        text: str,
        *,
        key: str | None,
        file: tuple[str, bytes] | None = None,
        context: Mapping[str, str] | None = None,
        what: str = "send a reply",
        upload_limit: int = DISCORD_UPLOAD_LIMIT,
    ) -> list[int]:
        """Post ``text`` (split to fit) and ``file`` at ``address``; the first piece replies to
        ``address.reply_to_message_id``. ``key`` makes the sends idempotent across calls
        (without it, only this call's own retries are). Returns the ids of the messages
        posted (fewer, or none, if Discord refused; that is logged)."""
        text, file = fit_file(text, file, upload_limit)
        key = key or f"once:{secrets.token_hex(8)}"
        pieces = split_message(text, self._limit) if text.strip() else []
        if not pieces and file is None:
            return []
        channel = self._channel(address)
        reference = self._reference(address)
        sent: list[int] = []
        count = max(len(pieces), 1)
        for index in range(count):
            content = pieces[index] if pieces else None
            options: dict[str, Any] = {}
            if index == 0 and reference is not None:
                options["reference"] = reference
            options["nonce"] = nonce_for(key, index)
            attach = file if index == count - 1 else None

            def post(
                content: str | None = content,
                options: dict[str, Any] = options,
                attach: tuple[str, bytes] | None = attach,
            ) -> Awaitable[discord.Message]:
                if attach is not None:  # a fresh File for every attempt: it is read once
                    return channel.send(content, file=_file(attach), **options)
                return channel.send(content, **options)

            message = await self._attempt(post, what, address, context)
            if message is None:
                break
            sent.append(message.id)
        return sent

    # ------------------------------------------------------------------ upload status

    async def post_status(self, address: Address, text: str) -> str:
        """Post a status message threaded like a reply; its id, or "" if it could not be
        posted (a status is cosmetic: the upload goes on)."""
        sent = await self.deliver(address, text[: self._limit], key=None, what="post a status")
        return str(sent[0]) if sent else ""

    async def edit_status(self, address: Address, message_id: str, text: str) -> None:
        """Replace a status message's text ("" from ``post_status``: nothing to edit)."""
        if not message_id:
            return
        channel = self._channel(address)
        partial = channel.get_partial_message(int(message_id))
        content = text[: self._limit]
        await self._attempt(lambda: partial.edit(content=content), "edit a status", address, None)

    # ------------------------------------------------------------------ downloads

    async def download(self, attachment: Attachment, max_bytes: int) -> bytes:
        """The attachment's bytes, from its CDN URL. The declared size is checked first, so
        an oversized file is refused without downloading it."""
        if attachment.size is not None and attachment.size > max_bytes:
            raise UploadError(_too_large(attachment.filename, attachment.size, max_bytes))
        try:
            async with asyncio.timeout(self._timeout):
                data = await self._client.http.get_from_cdn(attachment.ref)
        except discord.NotFound as exc:
            raise UploadError(
                f"I couldn't download {attachment.filename}: Discord says it no longer exists."
            ) from exc
        except (discord.DiscordException, *_TRANSIENT) as exc:
            log.warning("downloading %s from Discord failed: %r", attachment.filename, exc)
            raise UploadError(
                f"I couldn't download {attachment.filename} from Discord just now; "
                "please send it again in a moment."
            ) from exc
        if len(data) > max_bytes:
            raise UploadError(_too_large(attachment.filename, len(data), max_bytes))
        return data

    # ------------------------------------------------------------------ plumbing

    def _channel(self, address: Address) -> discord.PartialMessageable:
        """Where to post: the thread if any, else the channel. A partial channel needs no
        cache and no REST call (after a restart nothing is cached yet); Discord reports a
        missing channel or permission on the send itself."""
        target = int(address.thread_id or address.channel_id)
        return self._client.get_partial_messageable(target)

    @staticmethod
    def _reference(address: Address) -> discord.MessageReference | None:
        if address.reply_to_message_id is None or not address.reply_to_message_id.isdigit():
            return None
        return discord.MessageReference(
            message_id=int(address.reply_to_message_id),
            channel_id=int(address.thread_id or address.channel_id),
            fail_if_not_exists=False,  # the user deleted their message: post anyway
        )

    async def _attempt(
        self,
        call: Callable[[], Awaitable[_T]],
        what: str,
        address: Address,
        context: Mapping[str, str] | None,
    ) -> _T | None:
        """Run ``call`` with a timeout and bounded retries; None (logged) if it failed."""
        where = address.thread_id or address.channel_id
        extra = dict(context or {})
        for attempt in range(self._retries + 1):
            try:
                async with asyncio.timeout(self._timeout):
                    return await call()
            except discord.Forbidden as exc:
                log.warning(
                    "no permission to %s in Discord channel %s (invite the bot with View "
                    "Channels, Send Messages, Send Messages in Threads): %s",
                    what, where, exc.text, extra=extra,
                )  # fmt: skip
                return None
            except discord.NotFound as exc:
                log.warning(
                    "could not %s: Discord channel or message %s is gone: %s",
                    what, where, exc.text, extra=extra,
                )  # fmt: skip
                return None
            except _TRANSIENT as exc:
                if attempt == self._retries:
                    log.warning(
                        "could not %s in Discord channel %s after %d attempts: %r",
                        what, where, attempt + 1, exc, extra=extra,
                    )  # fmt: skip
                    return None
                log.info("retrying to %s in %s after %r", what, where, exc, extra=extra)
                await asyncio.sleep(self._retry_delay * (attempt + 1))
            except discord.HTTPException as exc:  # rejected (400...): retrying cannot help
                log.warning(
                    "Discord refused to %s in channel %s: %s %s",
                    what, where, exc.status, exc.text, extra=extra,
                )  # fmt: skip
                return None
        return None


def _file(item: tuple[str, bytes]) -> discord.File:
    name, data = item
    return discord.File(io.BytesIO(data), filename=name)


def _too_large(filename: str, size: int, limit: int) -> str:
    return (
        f"{filename} is {_megabytes(size)}, but I can only take files up to "
        f"{_megabytes(limit)} here."
    )


def _megabytes(size: int) -> str:
    value = size / 2**20
    if value < 0.1:
        return f"{max(size, 0):,} bytes"
    return f"{value:.1f} MB".replace(".0 MB", " MB")
