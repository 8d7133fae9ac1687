"""A message sent to an agent as a person, through the operator API: it goes through the
dispatcher like a platform's message (the agent's inbox, its worker, wherever that runs),
and the turn comes back step by step: thoughts, function calls, their results, replies,
then the end.

Steps come from the runtime's ``StepFeed`` as each is stored in this process. When the
agent's worker runs on another replica, the steps are read from storage once the turn is
done (the same messages, all at once). The agent's replies also go where its replies go
(its home conversation, if it has one), as a platform message's would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from core.events import Event, UserMessageReceived
from core.messages import SEND_MESSAGE, Message, ToolCall
from core.operator.audit import Audit
from core.operator.errors import InvalidRequestError, NotFoundError
from core.operator.feed import StepFeed, TurnEnded
from core.operator.keys import Caller
from core.ports import AgentStore, Clock, RecallStore

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


def steps_of(messages: Sequence[Message]) -> list[TurnStep]:
    """A turn's stored messages as steps: each answer's thoughts, then each call, its result
    and, for ``send_message``, the reply."""
    out: list[TurnStep] = []
    calls: dict[str, tuple[Message, ToolCall]] = {}
    for m in messages:
        if m.kind == "assistant":
            if m.content:
                out.append(TurnStep("thought", m.seq, m.created_at, text=m.content))
            for call in m.tool_calls:
                calls[call.id] = (m, call)
                out.append(
                    TurnStep(
                        "function_call",
                        m.seq,
                        m.created_at,
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
                    m.created_at,
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
                    out.append(TurnStep("reply", answer.seq, answer.created_at, text=said))
    return out


class Conversations:
    def __init__(
        self,
        *,
        agents: AgentStore,
        recall: RecallStore,
        feed: StepFeed,
        submit_and_wait: Callable[[Event], Coroutine[Any, Any, bool]],
        clock: Clock,
        audit: Audit,
    ) -> None:
        self.agents = agents
        self.recall = recall
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
    ) -> UserMessageReceived:
        """Check the request (before anything is sent back) and make its event."""
        caller.require_admin()
        if not text.strip():
            raise InvalidRequestError("the message is empty", field="text")
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidRequestError(
                f"at most {MAX_TEXT_CHARS:,} characters; upload a file for more", field="text"
            )
        if await self.agents.load(agent_key) is None:
            raise NotFoundError(f"there is no agent {agent_key!r}")
        event = UserMessageReceived(
            event_id=f"api:{uuid.uuid4().hex}",
            agent_key=agent_key,
            occurred_at=self.clock.now(),
            text=text,
            author_id=user_id,
            author_name=user_name,
        )
        await self.audit.record(
            caller,
            "messages.send",
            agent=agent_key,
            target=event.event_id,
            summary=f"a message of {len(text):,} characters"
            + (f" as {user_id}" if user_id else ""),
        )
        return event

    async def run(self, event: UserMessageReceived) -> AsyncIterator[TurnStep | TurnDone]:
        """Send the event and follow its turn: each step as it is stored, then the end. If
        the reader stops early, the turn goes on."""
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
                seen = True
                for step in steps_of(item.messages):
                    steps.append(step)
                    yield step
            await task
        if not seen and not ended:  # its worker was elsewhere: read what it stored
            for step in steps_of(await self._stored(event)):
                steps.append(step)
                yield step
        replies = tuple(s.text for s in steps if s.kind == "reply")
        yield TurnDone(event.event_id, replies, error)

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
