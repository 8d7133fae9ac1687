"""Sending an agent's replies, and knowing whether a stored step's replies went out.

A step's replies are stored with it (``AgentState.outbox``) and sent after. Events are
marked done in the inbox only after their replies are sent, so a stored step whose event is
still pending there belongs to a worker that stopped in between: its replies may never have
gone out. This process also remembers which steps it sent itself, so dropping an agent's
cached context (a lease that looked lost, an error) never repeats them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence

from core.events import SendReply
from core.ports import Inbox, ReplySink
from core.records import AgentState
from core.turn.session import AgentSession

log = logging.getLogger(__name__)

SENT_MEMORY = 10_000  # agents whose last sent step this process remembers


class ReplyDelivery:
    def __init__(self, replies: ReplySink, inbox: Inbox | None = None) -> None:
        self.replies = replies
        self.inbox = inbox
        self._sent: OrderedDict[str, int] = OrderedDict()  # agent -> version of that step

    async def unsent(self, state: AgentState) -> bool:
        """Whether the stored last step's replies may never have gone out."""
        if not state.outbox or self._sent.get(state.agent_key) == state.version:
            return False
        if self.inbox is None or state.last_event_id is None:
            return False
        return await self.inbox.is_pending(state.last_event_id)

    async def send_left_over(self, session: AgentSession) -> None:
        """The context was loaded with the last step's replies, and its worker may have died
        between storing that step and sending them: send them before anything else, or a
        later event would overwrite them unsent."""
        if session.outbox_unsent:
            session.outbox_unsent = False
            await self.send_stored(session.state, session.state.outbox)

    async def send_stored(self, state: AgentState, replies: Sequence[SendReply]) -> None:
        """Send the replies of the step ``state`` was stored with, and remember it."""
        await self.send(replies)
        if replies:
            key = state.agent_key
            self._sent[key] = state.version  # each stored step has its own version
            self._sent.move_to_end(key)
            while len(self._sent) > SENT_MEMORY:
                self._sent.popitem(last=False)

    async def send(self, replies: Sequence[SendReply]) -> None:
        """Send each reply; a platform failure is logged, never raised into the turn."""
        for reply in replies:
            try:
                await self.replies.send(reply)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "could not deliver a reply",
                    extra={"agent_key": reply.agent_key, "event_id": reply.event_id},
                )
