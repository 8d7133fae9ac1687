"""Everything Pagemind writes to Slack: replies (split to fit), private answers, status
messages, the "working" reaction and files.

Every call goes through one ``AsyncWebClient`` whose retry handlers already waited out 429s
(``Retry-After``), 5xx answers and connection errors a bounded number of times; what still
fails becomes a :class:`~adapters.slack_chat.errors.SlackDeliveryError` here.

Residual duplicate risk: ``chat.postMessage`` has no idempotency key. When Slack posted a
message but the answer was lost (a timeout, a 5xx after the write), the SDK's retry posts it
again. Slack offers no way to ask "did this arrive?" short of reading the history, so a rare
duplicate is accepted rather than a lost reply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_chat.errors import CALL_ERRORS, SlackDeliveryError, delivery_error
from core.events import Address, SendReply
from core.split import split_message

log = logging.getLogger(__name__)

#: Slack recommends at most about 4,000 characters per message (it truncates at 40,000).
DEFAULT_LIMIT = 4000
WORKING_REACTION = "hourglass_flowing_sand"


@dataclass(frozen=True, slots=True)
class Posted:
    """Where a message landed: the channel id (a DM's ``D...`` id when posted to a user id)
    and the ``ts`` of its first piece."""

    channel: str
    ts: str


def escape(text: str) -> str:
    """Escape ``& < >`` as Slack asks, so the agent's text cannot form ``<!channel>`` pings,
    mentions or links by accident (or by a prompt injection)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackOutbound:
    """Posts to Slack through ``client``; also the ``ReplySink`` for the agent's replies."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        limit: int = DEFAULT_LIMIT,
        working_reaction: str = WORKING_REACTION,
    ) -> None:
        self.client = client
        self.limit = limit
        self.working_reaction = working_reaction

    # ------------------------------------------------------------------ replies

    async def send(self, reply: SendReply) -> None:
        """Deliver the agent's reply in its conversation and thread.

        A reply Slack will never take (channel gone, bot removed, scope missing) is logged and
        dropped; a transient failure left after the retries raises ``SlackDeliveryError``.
        """
        extra = {"agent_key": reply.agent_key, "event_id": reply.event_id}
        if reply.address is None:
            log.warning("a Slack reply with no address was dropped", extra=extra)
            return
        if not reply.text.strip():
            return
        try:
            await self.post(reply.address.channel_id, reply.text, thread_ts=reply.address.thread_id)
        except SlackDeliveryError as exc:
            if not exc.permanent:
                raise
            log.warning(
                "Slack will not take a reply in %s (%s); dropped it",
                reply.address.channel_id,
                exc.code,
                extra=extra,
            )

    async def post(self, channel: str, text: str, *, thread_ts: str | None = None) -> Posted:
        """Post ``text`` in ``channel`` (a channel id, or a user id for the bot's DM with
        them), split into messages of at most ``limit`` characters; returns where the first
        piece landed. Stops at the first piece Slack refuses."""
        pieces = split_message(text, self.limit) or ["…"]
        first: Posted | None = None
        for piece in pieces:
            try:
                response = await self.client.chat_postMessage(
                    channel=channel, text=escape(piece), thread_ts=thread_ts
                )
            except CALL_ERRORS as exc:
                raise delivery_error(exc, f"post a message in {channel}") from exc
            if first is None:
                first = Posted(str(response.get("channel") or channel), str(response["ts"]))
        assert first is not None
        return first

    async def post_private(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None
    ) -> None:
        """An ephemeral message only ``user`` sees in ``channel`` (commands' answers)."""
        for piece in split_message(text, self.limit):
            try:
                await self.client.chat_postEphemeral(
                    channel=channel, user=user, text=escape(piece), thread_ts=thread_ts
                )
            except CALL_ERRORS as exc:
                raise delivery_error(exc, f"post a private message in {channel}") from exc

    # ------------------------------------------------------------------ status

    async def post_status(self, address: Address, text: str) -> str:
        """Post a one-message status (threaded like a reply); returns its ``ts``."""
        try:
            response = await self.client.chat_postMessage(
                channel=address.channel_id,
                text=escape(text[: self.limit]),
                thread_ts=address.thread_id,
            )
        except CALL_ERRORS as exc:
            raise delivery_error(exc, "post a status message") from exc
        return str(response["ts"])

    async def edit_status(self, address: Address, message_id: str, text: str) -> None:
        """Replace the text of the status message ``message_id`` (``chat.update``)."""
        try:
            await self.client.chat_update(
                channel=address.channel_id, ts=message_id, text=escape(text[: self.limit])
            )
        except CALL_ERRORS as exc:
            raise delivery_error(exc, "update a status message") from exc

    # ---------------------------------------------------------------- reactions

    async def add_working(self, channel: str, ts: str) -> bool:
        """Put the "working" reaction on a message; False (logged) if Slack refused."""
        try:
            await self.client.reactions_add(
                channel=channel, timestamp=ts, name=self.working_reaction
            )
        except CALL_ERRORS as exc:
            log.info("could not show the working reaction: %s", delivery_error(exc, "react"))
            return False
        return True

    async def remove_working(self, channel: str, ts: str) -> None:
        """Take the "working" reaction off again (best effort, logged)."""
        try:
            await self.client.reactions_remove(
                channel=channel, timestamp=ts, name=self.working_reaction
            )
        except CALL_ERRORS as exc:
            log.info("could not remove the working reaction: %s", delivery_error(exc, "react"))

    # -------------------------------------------------------------------- files

    async def upload(
        self, channel: str, filename: str, content: bytes, *, thread_ts: str | None = None
    ) -> None:
        """Share a file in ``channel`` (files.upload v2: needs the ``files:write`` scope)."""
        try:
            await self.client.files_upload_v2(
                channel=channel,
                filename=filename,
                title=filename,
                content=content,
                thread_ts=thread_ts,
            )
        except CALL_ERRORS as exc:
            raise delivery_error(exc, f"share the file {filename}") from exc
