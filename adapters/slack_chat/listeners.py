"""The bolt listeners: acknowledge once the event is recorded, then do the rest in a tracked
background task.

The app runs with ``process_before_response=True``, so bolt sends the ack when a listener
returns. The ``message`` listener returns once the event is recorded in the inbox (a few
milliseconds; the author's name is waited for at most a second): an event Slack has seen
acknowledged is never lost, and one Slack sends after that ack, to whichever replica, is
recorded after it, so it never overtakes it. If recording fails, bolt answers 500 and Slack
retries. Everything else (answers, the "working" reaction, commands) runs in tracked tasks,
so no untracked task of bolt's own runs our code.

* ``message`` events (DMs, channels, threads, edits, file shares) are the one source of what
  people say. ``app_mention`` is acknowledged and dropped: Slack sends it *in addition to* the
  ``message`` event of the same mention, under another ``event_id``, so handling both would
  answer twice. ``message`` events were chosen because they cover everything a mention does
  and more (DMs, edits, files, thread replies, ``answer=always``).
* Everything else (other events, other commands, interactions) is acknowledged so Slack does
  not redeliver it; bolt would otherwise answer 404, which in Socket Mode means no ack at all.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from adapters.slack_chat.errors import CALL_ERRORS, error_code
from adapters.slack_chat.handling import InboundHandler, Respond
from adapters.slack_chat.outbound import escape
from adapters.slack_chat.translate import BotIdentity
from core.errors import StorageError
from core.split import split_message
from core.tasks import BackgroundTasks

log = logging.getLogger(__name__)

_ANYTHING = re.compile(".*")


def register_listeners(
    app: AsyncApp,
    *,
    handler: InboundHandler,
    tasks: BackgroundTasks,
    identity: Callable[[], BotIdentity],
    slash_command: str,
    limit: int,
) -> None:
    """Attach Pagemind's listeners to ``app`` (before it receives anything)."""

    async def on_message(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()  # sent when this returns, after the event is recorded
        event_id = str(body.get("event_id") or "")
        context = {"event_id": f"slack:{event_id}"}
        received = await handler.record_event(body, identity())  # raises: 500, Slack retries
        if received is not None:
            tasks.spawn(handler.act(*received), name=f"event {event_id}", context=context)

    async def on_mention(ack: AsyncAck) -> None:
        await ack()  # handled through the message event of the same mention (see above)

    async def on_command(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        trigger = str(command.get("trigger_id") or "")
        tasks.spawn(
            handler.handle_command(command, identity(), responder(respond, limit)),
            name=f"command {trigger}",
            context={"event_id": f"slack:command:{trigger}"},
        )

    async def on_other_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack(f"This app answers {slash_command} only.")

    async def acknowledge(ack: AsyncAck) -> None:
        await ack()

    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        """A listener raised (bolt answers 500; Slack retries an event): one line for a
        storage fault, which is expected while the database is away; a traceback else."""
        event_id = {"event_id": f"slack:{body.get('event_id') or ''}"}
        if isinstance(error, StorageError):
            log.warning("could not record a Slack event (%s); Slack will retry it", error)
        else:
            log.error("a Slack listener failed", exc_info=error, extra=event_id)

    app.error(on_error)
    app.event("message")(on_message)
    app.event("app_mention")(on_mention)
    app.command(slash_command)(on_command)
    # Registered last: bolt runs the first listener that matches.
    app.event(_ANYTHING)(acknowledge)
    app.command(_ANYTHING)(on_other_command)
    app.action(_ANYTHING)(acknowledge)
    app.shortcut(_ANYTHING)(acknowledge)
    app.view(_ANYTHING)(acknowledge)


def responder(respond: AsyncRespond, limit: int) -> Respond:
    """Answer a slash command privately through its ``response_url`` (at most five answers
    within 30 minutes, by Slack's rules), split to fit."""

    async def answer(text: str) -> None:
        for piece in split_message(text, limit) or ["…"]:
            try:
                sent = await respond(
                    text=escape(piece), response_type="ephemeral", replace_original=False
                )
            except CALL_ERRORS as exc:
                log.warning("could not answer a slash command: %s", error_code(exc))
                return
            if sent.status_code != 200:
                log.warning("Slack refused a slash-command answer: HTTP %d", sent.status_code)
                return

    return answer
