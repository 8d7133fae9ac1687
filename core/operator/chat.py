"""A person talking to their own agent through the OpenAI-compatible endpoint.

Each person named by the request (OpenAI's ``user`` field) has one agent there, on a
platform of its own: ``openai:user:<user>``. Their message is an event like any platform's:
recorded in the inbox, processed in order by whichever worker runs the agent (this replica
or another), its turn stored before anything is sent. The reply is read back from what the
turn stored, so it does not matter which replica ran it: the agent's ``send_message`` calls
for this event (in recall, or still carried by the state), their token counts from the
state's per-event usage. A turn that sent nothing answers with what the person would have
been told on a platform (a failure or a spent budget), or with nothing.

A request may carry an idempotency key (the ``Idempotency-Key`` header,
``core.operator.idempotency``): a retry, to any replica, is the same event, and answers with
the first request's reply; the agent hears the message once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from core.events import Address, Event, SendReply, UserMessageReceived
from core.operator.errors import ConflictError, InvalidRequestError, OperatorError
from core.operator.idempotency import REUSED, given_up, sent_message, turn_ended
from core.operator.keys import Caller
from core.ports import AgentStore, Clock, Inbox, RecallStore
from core.records import TokenUsage

log = logging.getLogger(__name__)

PLATFORM = "openai"
USER_PATTERN = r"^[A-Za-z0-9._@+=:-]{1,128}$"
_USER = re.compile(USER_PATTERN)

SubmitAndWait = Callable[[Event], Awaitable[bool]]


def agent_key_for(user: str) -> str:
    """The one agent behind the endpoint for the person ``user``."""
    if not _USER.match(user):
        raise InvalidRequestError(
            "user must be 1-128 letters, digits or . _ @ + = : - (it names the person, "
            "and so their agent)",
            field="user",
        )
    return f"{PLATFORM}:user:{user}"


class TurnFailedError(OperatorError):
    """The agent's turn failed on every attempt (the message is kept, unanswered)."""

    code = "agent_failed"


class TurnPendingError(OperatorError):
    """The message is recorded and queued, but its turn did not end in time."""

    code = "timeout"

    def __init__(self, message: str, *, event_id: str) -> None:
        super().__init__(message)
        self.event_id = event_id


@dataclass(frozen=True, slots=True)
class ChatReply:
    event_id: str
    agent_key: str
    created: datetime
    messages: tuple[str, ...]  # what the agent sent, in order (send_message, or a notice)
    usage: TokenUsage

    @property
    def text(self) -> str:
        return "\n\n".join(self.messages)


class StoredReplies:
    """The ``openai`` platform's reply sink on every replica: nothing is pushed anywhere,
    the request waiting for the turn reads the reply from what the turn stored."""

    async def send(self, reply: SendReply) -> None:
        log.debug(
            "reply stored for the OpenAI-compatible request",
            extra={"agent_key": reply.agent_key, "event_id": reply.event_id},
        )


class PersonChat:
    def __init__(
        self,
        *,
        agents: AgentStore,
        recall: RecallStore,
        inbox: Inbox,
        clock: Clock,
        submit_and_wait: SubmitAndWait,
        wait_seconds: float = 120.0,
    ) -> None:
        self.agents = agents
        self.recall = recall
        self.inbox = inbox
        self.clock = clock
        self.submit_and_wait = submit_and_wait
        self.wait_seconds = wait_seconds

    async def send(
        self, caller: Caller, user: str, text: str, *, request_id: str | None = None
    ) -> ChatReply:
        """``text`` from the person ``user`` to their agent; the agent's reply once its
        turn is stored. Admin keys only (the agent acts on it). ``request_id`` (random if
        not given) names the message's event: ``openai:<request_id>``; a request whose event
        was sent before (``idempotent_request_id``) answers with that turn's reply."""
        caller.require_admin()
        key = agent_key_for(user)
        if not text.strip():
            raise InvalidRequestError("the newest user message is empty", field="messages")
        before = await self.agents.load(key)
        after_seq = before.last_seq if before is not None else 0
        now = self.clock.now()
        event = UserMessageReceived(
            event_id=f"{PLATFORM}:{request_id or uuid.uuid4().hex}",
            agent_key=key,
            occurred_at=now,
            text=text,
            author_id=user,
            reply_to=Address(platform=PLATFORM, channel_id=user, is_direct=True),
        )
        if (
            before is not None
            and event.event_id in (before.last_event_id, *before.recent_event_ids)
            and not await self.inbox.is_pending(event.event_id)  # a chain may still run
        ):
            return await self._replayed(event)  # its turn is stored (the inbox may be purged)
        try:
            async with asyncio.timeout(self.wait_seconds):
                fresh = await self.submit_and_wait(event)
                if not fresh:
                    await turn_ended(self.inbox, event.event_id)
        except TimeoutError:
            raise TurnPendingError(
                f"the message is recorded but the agent has not answered within "
                f"{self.wait_seconds:.0f} s; its reply will be in the agent's messages",
                event_id=event.event_id,
            ) from None
        if not fresh:
            return await self._replayed(event)
        return await self._reply(event, after_seq)

    async def _replayed(self, event: UserMessageReceived) -> ChatReply:
        """The reply to a request sent again with its idempotency key: the first one's."""
        sent = await sent_message(self.agents, self.recall, event.agent_key, event.event_id)
        if sent is None:
            await self._check_given_up(event)  # kept, never answered
        if sent is None or sent.content != event.text:
            raise ConflictError(REUSED)
        first = event.model_copy(update={"occurred_at": sent.created_at})
        try:
            return await self._reply(first, sent.seq - 1)
        except TurnPendingError:  # ended (not pending), not failed, no longer remembered
            raise ConflictError(REUSED) from None

    async def _check_given_up(self, event: UserMessageReceived) -> None:
        """TurnFailedError if the inbox gave up on the event."""
        error = await given_up(self.inbox, event)
        if error is not None:
            raise TurnFailedError(f"the agent could not answer ({error}); the message is kept")

    async def _reply(self, event: UserMessageReceived, after_seq: int) -> ChatReply:
        key = event.agent_key
        state = await self.agents.load(key)
        if state is None or event.event_id not in (state.last_event_id, *state.recent_event_ids):
            await self._check_given_up(event)
            raise TurnPendingError(
                "the message is recorded but this process is stopping; another worker will "
                "answer it, and the reply will be in the agent's messages",
                event_id=event.event_id,
            )
        stored = {m.seq: m for m in await self.recall.range(key, after_seq, state.last_seq)}
        stored.update((m.seq, m) for m in state.unfiled)
        said = tuple(
            text
            for m in sorted(stored.values(), key=lambda m: m.seq)
            if m.kind == "assistant" and m.event_id == event.event_id
            for text in [m.spoken_text()]  # its send_message calls
            if text
        )
        if not said and state.last_event_id == event.event_id:
            said = tuple(r.text for r in state.outbox if r.event_id == event.event_id)
        usage = state.usage_of(event.event_id) or TokenUsage()
        return ChatReply(event.event_id, key, event.occurred_at, said, usage)
