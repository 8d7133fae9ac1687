"""A message sent to an agent as a person, through the operator API: it goes through the
dispatcher like a platform's message (the agent's inbox, its worker, wherever that runs),
and the turn comes back step by step: thoughts, function calls, their results, replies,
then the end.

Steps come from the runtime's ``StepFeed`` as each is stored in this process. When the
agent's worker runs on another replica, the steps are read from storage once the turn is
done (the same messages, all at once). The agent's replies also go where its replies go
(its home conversation, if it has one), as a platform message's would.

A message sent with an ``Idempotency-Key`` (``core.operator.idempotency``) that was sent
before is not sent again: the request waits for the first one's turn to end and answers
with that turn's steps, read from storage; the same key for another text or person is
refused before anything is sent back.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from core.events import Event, UserMessageReceived
from core.messages import SEND_MESSAGE, Message, ToolCall
from core.operator.audit import Audit
from core.operator.errors import ConflictError, InvalidRequestError, NotFoundError
from core.operator.feed import StepFeed, TurnEnded
from core.operator.idempotency import (
    REUSED,
    given_up,
    idempotent_request_id,
    sent_message,
    turn_ended,
)
from core.operator.keys import Caller
from core.ports import AgentStore, Clock, Inbox, RecallStore

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 100_000
_LOOK_BACK = 1000  # messages read back for a turn's own, when it ran on another replica

StepKind = Literal["thought", "function_call", "function_result", "reply"]


@dataclass(frozen=True, slots=True)
class TurnStep:
    kind: StepKind
    message_id: int
    at: datetime
    text: str = ""
    name: str | None = None
    arguments: str | None = None
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class TurnDone:
    event_id: str
    replies: tuple[str, ...]
    error: str | None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A checked message, ready to send: ``again`` when its idempotency key's message was
    sent before (its turn is then followed, not started)."""

    event: UserMessageReceived
    again: bool = False


def _as_stored(at: datetime) -> datetime:
    """``at`` to the millisecond, as MongoDB keeps it: a turn's steps are the same whether
    they come as the turn runs or are read back (from another replica's turn, or a retry's)."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def steps_of(messages: Sequence[Message]) -> list[TurnStep]:
    """A turn's stored messages as steps: each answer's thoughts, then each call, its result
    and, for ``send_message``, the reply."""
    out: list[TurnStep] = []
    calls: dict[str, tuple[Message, ToolCall]] = {}
    for m in messages:
        if m.kind == "assistant":
            if m.content:
                out.append(TurnStep("thought", m.seq, _as_stored(m.created_at), text=m.content))
            for call in m.tool_calls:
                calls[call.id] = (m, call)
                out.append(
                    TurnStep(
                        "function_call",
                        m.seq,
                        _as_stored(m.created_at),
                        name=call.name,
                        arguments=call.arguments,
                        call_id=call.id,
                    )
                )
        elif m.kind == "tool_result":
            out.append(
                TurnStep(
                    "function_result",
                    m.seq,
                    _as_stored(m.created_at),
                    text=m.content,
                    name=m.tool_name,
                    call_id=m.tool_call_id,
                )
            )
            answered = calls.get(m.tool_call_id or "")
            if answered is not None and answered[1].name == SEND_MESSAGE:
                answer, call = answered
                said = answer.model_copy(update={"tool_calls": (call,)}).spoken_text()
                if said:
                    out.append(
                        TurnStep("reply", answer.seq, _as_stored(answer.created_at), text=said)
                    )
    return out


def said_by(message: Message, event: UserMessageReceived) -> bool:
    """Whether ``message`` is the person's message of ``event`` (same event, text and
    author: a key sent again with another message has the same event id)."""
    return (
        message.kind == "user_message"
        and message.event_id == event.event_id
        and (message.content, message.author_id) == (event.text, event.author_id)
    )


class Conversations:
    def __init__(
        self,
        *,
        agents: AgentStore,
        recall: RecallStore,
        inbox: Inbox,
        feed: StepFeed,
        submit_and_wait: Callable[[Event], Coroutine[Any, Any, bool]],
        clock: Clock,
        audit: Audit,
    ) -> None:
        self.agents = agents
        self.recall = recall
        self.inbox = inbox
        self.feed = feed
        self.submit_and_wait = submit_and_wait
        self.clock = clock
        self.audit = audit
        self._running: set[asyncio.Task[bool]] = set()

    async def start(
        self,
        caller: Caller,
        agent_key: str,
        text: str,
        *,
        user_id: str | None = None,
        user_name: str | None = None,
        idempotency_key: str | None = None,
    ) -> Outgoing:
        """Check the request (before anything is sent back) and make its event. With
        ``idempotency_key``, the event is the same for every request with that key from the
        same API key to the same agent."""
        caller.require_admin()
        if not text.strip():
            raise InvalidRequestError("the message is empty", field="text")
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidRequestError(
                f"at most {MAX_TEXT_CHARS:,} characters; upload a file for more", field="text"
            )
        request_id = (
            uuid.uuid4().hex
            if idempotency_key is None
            else idempotent_request_id(caller, idempotency_key, scope=agent_key)
        )
        if await self.agents.load(agent_key) is None:
            raise NotFoundError(f"there is no agent {agent_key!r}")
        event = UserMessageReceived(
            event_id=f"api:{request_id}",
            agent_key=agent_key,
            occurred_at=self.clock.now(),
            text=text,
            author_id=user_id,
            author_name=user_name,
        )
        again = idempotency_key is not None and await self._sent_before(event)
        await self.audit.record(
            caller,
            "messages.send",
            agent=agent_key,
            target=event.event_id,
            summary=f"a message of {len(text):,} characters"
            + (f" as {user_id}" if user_id else "")
            + (" (sent again)" if again else ""),
        )
        return Outgoing(event, again)

    async def _sent_before(self, event: UserMessageReceived) -> bool:
        """Whether the message of this event (an idempotency key's) was sent before: True
        when it was, with the same text and person; ConflictError when the key was used for
        another message, or its message is out of reach. Two reads for a new key."""
        said: tuple[str, str | None] | None = None
        if await self.inbox.is_pending(event.event_id):  # its turn is queued or running
            pending = await self.inbox.pending(event.agent_key)
            first = next((e for e in pending if e.event_id == event.event_id), None)
            if isinstance(first, UserMessageReceived):
                said = (first.text, first.author_id)
        if said is None:
            state = await self.agents.load(event.agent_key)
            if state is None or event.event_id not in (
                state.last_event_id,
                *state.recent_event_ids,
            ):
                return False  # new (if it is too old to know, the inbox may still refuse it)
            sent = await sent_message(self.agents, self.recall, event.agent_key, event.event_id)
            if sent is None:
                raise ConflictError(REUSED)  # handled, its message out of reach
            said = (sent.content, sent.author_id)
        if said != (event.text, event.author_id):
            raise ConflictError(REUSED)
        return True

    async def run(self, outgoing: Outgoing) -> AsyncIterator[TurnStep | TurnDone]:
        """Send the event and follow its turn: each step as it is stored, then the end. If
        the reader stops early, the turn goes on. A message sent before is not sent again:
        its first turn's steps, once it has ended."""
        event = outgoing.event
        if outgoing.again:
            log.info(
                "message sent again with its idempotency key: answering with its first turn",
                extra={"agent_key": event.agent_key, "event_id": event.event_id},
            )
            async for replayed in self._replayed(event, sent=()):
                yield replayed
            return
        steps: list[TurnStep] = []
        error: str | None = None
        seen = ended = False
        with self.feed.watch(event.event_id) as queue:
            task = asyncio.create_task(self.submit_and_wait(event))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            while not ended:
                if task.done() and queue.empty():
                    break
                getting = asyncio.ensure_future(queue.get())
                await asyncio.wait({getting, task}, return_when=asyncio.FIRST_COMPLETED)
                if not getting.done():
                    getting.cancel()
                    continue
                item = getting.result()
                if isinstance(item, TurnEnded):
                    error, ended = item.error, True
                    continue
                # from the turn's start (this request's message) on; a turn joined under way
                # (sent at the same time with the same key, or resumed here after another
                # worker began it) is read back below
                seen = seen or any(said_by(m, event) for m in item.messages)
                if not seen:
                    continue
                for step in steps_of(item.messages):
                    steps.append(step)
                    yield step
            fresh = await task
        if not fresh:  # sent at the same time by another request with the same key
            async for replayed in self._replayed(event, sent=steps):
                yield replayed
            return
        if not seen:  # its worker was elsewhere, or began it elsewhere: read what it stored
            for step in steps_of(await self._stored(event)):
                steps.append(step)
                yield step
        replies = tuple(s.text for s in steps if s.kind == "reply")
        yield TurnDone(event.event_id, replies, error)

    async def _replayed(
        self, event: UserMessageReceived, *, sent: Sequence[TurnStep]
    ) -> AsyncIterator[TurnStep | TurnDone]:
        """The turn of a message first sent by another request, once it has ended: its
        steps (but the ones in ``sent``, already given), its replies and its error."""
        await turn_ended(self.inbox, event.event_id)
        stored = await self._stored(event)
        said = next((m for m in stored if m.kind == "user_message"), None)
        if said is None or not said_by(said, event):
            # its message was not stored (given up on), is out of reach (the key is too old),
            # or differs (another message with the same key, sent at the same time)
            failed = await self._error(event) if said is None else None
            yield TurnDone(event.event_id, (), failed or REUSED)
            return
        steps = steps_of(stored)
        for step in steps:
            if step not in sent:
                yield step
        replies = tuple(s.text for s in steps if s.kind == "reply")
        yield TurnDone(event.event_id, replies, await self._error(event))

    async def _error(self, event: UserMessageReceived) -> str | None:
        """Why the event's turn failed, if it did (as stored: the inbox's reason for an
        event given up on, or the provider's error of its last failed model call)."""
        error = await given_up(self.inbox, event)
        if error is not None:
            return error
        state = await self.agents.load(event.agent_key)
        calls = [f for f in state.failed_calls if f.event_id == event.event_id] if state else []
        return calls[-1].trace.error if calls else None

    async def _stored(self, event: UserMessageReceived) -> list[Message]:
        """The messages the event's turn stored (read back from the agent's last ones)."""
        state = await self.agents.load(event.agent_key)
        if state is None:
            return []
        tail = await self.recall.range(
            event.agent_key, max(0, state.last_seq - _LOOK_BACK), state.last_seq
        )
        known = {m.seq for m in tail}
        tail += [m for m in state.unfiled if m.seq not in known]
        return sorted((m for m in tail if m.event_id == event.event_id), key=lambda m: m.seq)
