"""What happens after Slack's event was acknowledged: translate it, hand it to the gateway,
and do what the result says (reply in the thread, answer privately, share a file, show the
"working" reaction while the agent's turn runs).

Where answers go:

* the agent's notices and replies: in the conversation, threaded like the message;
* command answers, refusals and rate-limit notices: in a DM as a normal message, elsewhere as
  an ephemeral message only the sender sees (``/memory`` shows personal data);
* files (``export``): always into the bot's DM with the caller, never into a shared channel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal, assert_never

from adapters.slack_chat.commands import parse_slash, slack_wording
from adapters.slack_chat.errors import SlackDeliveryError
from adapters.slack_chat.outbound import SlackOutbound
from adapters.slack_chat.translate import (
    BotIdentity,
    Payload,
    author_of,
    command_message,
    incoming_message,
    spoken_message,
)
from adapters.slack_chat.users import UserDirectory
from core.inbound.gateway import GatewayResult, TurnDone
from core.inbound.messages import IncomingMessage
from core.ports import GatewayPort
from core.recent import RecentIds
from core.tasks import BackgroundTasks

log = logging.getLogger(__name__)

Respond = Callable[[str], Awaitable[None]]
FileOutcome = Literal["sent", "text only", "failed"]

NAME_WAIT = 1.0  # seconds to wait for an author's name before recording the message without

FILE_SENT = "I've sent the file to our direct messages."
FILE_FAILED = "I couldn't share the file in Slack (the app may lack the files:write permission)."


class _Turn:
    def __init__(self, previous: asyncio.Future[None] | None, mine: asyncio.Future[None]) -> None:
        self.previous = previous
        self.mine = mine

    async def wait(self) -> None:
        """Until the event delivered before this one (same channel) reached the gateway."""
        if self.previous is not None and not self.previous.done():
            await asyncio.wait({self.previous})  # never cancels the other event's future

    def done(self) -> None:
        if not self.mine.done():
            self.mine.set_result(None)


class ArrivalOrder:
    """Per channel, a queue of turns to hand events to the gateway in arrival order."""

    def __init__(self) -> None:
        self._last: dict[str, asyncio.Future[None]] = {}

    def take(self, channel: str) -> _Turn:
        previous = self._last.get(channel)
        mine = asyncio.get_running_loop().create_future()
        self._last[channel] = mine
        mine.add_done_callback(lambda future: self._forget(channel, future))
        return _Turn(previous, mine)

    def _forget(self, channel: str, future: asyncio.Future[None]) -> None:
        if self._last.get(channel) is future:  # nothing arrived after it
            del self._last[channel]


class InboundHandler:
    """Runs one acknowledged event or slash command to completion."""

    def __init__(
        self,
        *,
        gateway: GatewayPort,
        outbound: SlackOutbound,
        users: UserDirectory,
        tasks: BackgroundTasks,
        slash_command: str,
        indicator_timeout: float = 900.0,
    ) -> None:
        self.gateway = gateway
        self.outbound = outbound
        self.users = users
        self.tasks = tasks
        self.slash_command = slash_command
        self.indicator_timeout = indicator_timeout
        self.seen = RecentIds()
        self.order = ArrivalOrder()

    # ------------------------------------------------------------------ events

    async def handle_event(self, body: Payload, bot: BotIdentity) -> None:
        """One Events API ``event_callback`` carrying a ``message`` event, start to finish."""
        received = await self.record_event(body, bot)
        if received is not None:
            await self.act(*received)

    async def record_event(
        self, body: Payload, bot: BotIdentity
    ) -> tuple[IncomingMessage, GatewayResult] | None:
        """Hand the event to the gateway, which records it in the inbox; the listener lets
        Slack have its ack only after this. None when there is nothing more to do (not a
        message for the agent, or a redelivery). If recording fails, the event is not
        remembered as seen, so Slack's retry of it is taken."""
        event = body.get("event")
        event_id = str(body.get("event_id") or "")
        if not isinstance(event, dict) or not event_id or not self.seen.first_time(event_id):
            return None
        # Taken before the first await, so a channel's events reach the gateway in the order
        # Slack delivered them even when one waits longer for its author's name.
        turn = self.order.take(str(event.get("channel") or ""))
        try:
            spoken = spoken_message(event)
            author = author_of(spoken, bot) if spoken is not None else None
            if author is None:
                return None
            name = None
            if not author.is_bot:
                try:  # the ack must leave within Slack's 3 s: the id will do
                    name = await asyncio.wait_for(self.users.name(author.user_id), NAME_WAIT)
                except TimeoutError:
                    log.info("users.info was slow; using the id of %s", author.user_id)
            message = incoming_message(
                event,
                event_id=event_id,
                team_id=str(body.get("team_id") or ""),
                bot=bot,
                sender_name=name,
            )
            if message is None:
                return None
            await turn.wait()
            result = await self.gateway.receive(message, bot.user_id)
        except BaseException:
            self.seen.forget(event_id)
            raise
        finally:
            turn.done()
        return message, result

    async def act(self, message: IncomingMessage, result: GatewayResult) -> None:
        """Do what the gateway's result says (after Slack has its ack)."""
        await self._act(message, result)

    async def _act(self, message: IncomingMessage, result: GatewayResult) -> None:
        match result.status:
            case "accepted":
                if result.done is not None and not result.done.done():
                    self.tasks.spawn(
                        self._show_working(message, result.done),
                        name=f"working indicator {message.delivery_id}",
                        context=_context(message, result),
                    )
                if result.reply:
                    await self._reply(message, result.reply)
            case "command":
                await self._command_answer(message, result)
            case "refused" | "rate_limited":
                if result.reply:
                    await self._private(message, result.reply)
            case "duplicate" | "ignored":
                pass
            case unreachable:
                assert_never(unreachable)

    async def _reply(self, message: IncomingMessage, text: str) -> None:
        try:
            await self.outbound.post(message.channel_id, text, thread_ts=message.thread_id)
        except SlackDeliveryError as exc:
            log.warning(
                "could not answer in %s: %s", message.channel_id, exc.code, extra=_context(message)
            )

    async def _private(self, message: IncomingMessage, text: str) -> None:
        """An answer for the sender alone (see the module docstring)."""
        if message.is_direct:
            await self._reply(message, text)
            return
        in_thread = message.thread_id not in (None, message.message_id)
        try:
            await self.outbound.post_private(
                message.channel_id,
                message.sender.id,
                text,
                thread_ts=message.thread_id if in_thread else None,
            )
        except SlackDeliveryError as exc:
            log.warning(
                "could not answer privately in %s: %s",
                message.channel_id,
                exc.code,
                extra=_context(message),
            )

    async def _command_answer(self, message: IncomingMessage, result: GatewayResult) -> None:
        text = slack_wording(result.reply or "", self.slash_command)
        if result.file is not None:
            target = message.channel_id if message.is_direct else message.sender.id
            match await self._send_file(message, target, text, result.file):
                case "sent":  # in a DM the answer is already there; elsewhere, say where
                    text = "" if message.is_direct else FILE_SENT
                case "text only":  # the answer reached the DM, the file did not
                    text = FILE_FAILED
                case "failed":
                    text = f"{text}\n{FILE_FAILED}"
        if text:
            await self._private(message, text)

    async def _send_file(
        self, message: IncomingMessage, target: str, text: str, file: tuple[str, bytes]
    ) -> FileOutcome:
        """Post ``text`` and share ``file`` in the bot's DM with the caller. ``target`` is the
        DM's id, or the caller's user id (Slack then posts in the DM and names its id)."""
        filename, content = file
        try:
            posted = await self.outbound.post(target, text or filename)
        except SlackDeliveryError as exc:
            log.warning("could not post in the DM: %s", exc.code, extra=_context(message))
            return "failed"
        try:
            await self.outbound.upload(posted.channel, filename, content)
        except SlackDeliveryError as exc:
            log.warning("could not share %s: %s", filename, exc.code, extra=_context(message))
            return "text only"
        return "sent"

    async def _show_working(self, message: IncomingMessage, done: TurnDone) -> None:
        """The reaction stays on the message until this process is done with the event
        (processed, or handed to the replica that owns the agent), the adapter stops, or
        ``indicator_timeout`` passes."""
        channel, ts = message.channel_id, message.message_id
        if not await self.outbound.add_working(channel, ts):
            return
        either: set[asyncio.Future[Any]] = {done, self.tasks.stopping}
        await asyncio.wait(
            either,
            timeout=self.indicator_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        await self.outbound.remove_working(channel, ts)

    # ---------------------------------------------------------------- commands

    async def handle_command(self, payload: Payload, bot: BotIdentity, respond: Respond) -> None:
        """``/pagemind <command> [args]``: run it and answer privately via ``respond``."""
        request = parse_slash(str(payload.get("text") or ""))
        message = command_message(payload, bot)
        result = await self.gateway.command(message, request.command)
        text = slack_wording(result.reply or "", self.slash_command)
        if request.unknown:
            text = f"I don't know “{request.unknown}”.\n{text}"
        if result.file is not None:
            outcome = await self._send_file(message, message.sender.id, text, result.file)
            text = f"{text}\n{FILE_SENT if outcome == 'sent' else FILE_FAILED}"
        await respond(text)


def _context(message: IncomingMessage, result: GatewayResult | None = None) -> dict[str, str]:
    context = {"event_id": f"slack:{message.delivery_id}"}
    if result is not None and result.agent_key:
        context["agent_key"] = result.agent_key
    return context
