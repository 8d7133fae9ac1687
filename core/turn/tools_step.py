"""Run the tools: record the model's answer and run the functions it called.

An answer in plain text instead of a function call (common with small local models) is meant
for the person: it is sent as if by ``send_message``. Results go back into the context; the
chain goes on while a function asked for a heartbeat (or failed), up to the step cap, where
the agent is told its chain was stopped and the person that the agent could not finish.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from core.checkins.service import CheckinService
from core.context.edits import Editor, MemoryEdit, edits_between
from core.context.memory import WorkingContext
from core.context.tokens import TokenCounter
from core.events import SendReply
from core.messages import SEND_MESSAGE, CallTrace, Message, ToolCall
from core.notices import CHAIN_CAPPED_AFTER_REPLIES, CHAIN_CAPPED_NOTICE, notice
from core.ports import ArchivalStore, Clock, Embedder, RecallStore
from core.ports.model import ChatResponse
from core.tools.registry import ToolContext, ToolRegistry
from core.turn.outcome import Turn
from core.turn.session import AgentSession
from core.turn.settings import AgentSettings

log = logging.getLogger(__name__)

CHAIN_STOPPED_ALERT = (
    "Your chain of function calls was stopped after {steps} steps without ending. "
    "Finish with send_message, or set request_heartbeat to false when you are done."
)


@dataclass(frozen=True, slots=True)
class Step:
    """What one model answer did, to be stored: the working context after its calls, whether
    the chain goes on, and the replies to send once it is stored."""

    memory: WorkingContext
    heartbeat: bool
    outbox: tuple[SendReply, ...]
    edits: tuple[MemoryEdit, ...] = ()  # each change of a block, by the function that made it


class RunTools:
    def __init__(
        self,
        *,
        tools: ToolRegistry,
        recall: RecallStore,
        archival: ArchivalStore,
        counter: TokenCounter,
        clock: Clock,
        settings: AgentSettings,
        embedder: Embedder | None = None,
        checkins: CheckinService | None = None,
    ) -> None:
        self.tools = tools
        self.recall = recall
        self.archival = archival
        self.counter = counter
        self.clock = clock
        self.settings = settings
        self.embedder = embedder
        self.checkins = checkins

    async def run(
        self, session: AgentSession, turn: Turn, response: ChatResponse, *, last: bool
    ) -> Step:
        """Add the answer and its results to the context; ``last``: the step cap is reached."""
        event = turn.event
        calls = _unique_ids(response.tool_calls)
        thoughts = (response.content or "").strip()
        if not calls:
            if not thoughts:
                log.info(
                    "model answered with nothing; yielding",
                    extra={"agent_key": event.agent_key, "event_id": event.event_id},
                )
                return Step(session.state.memory, False, ())
            arguments = json.dumps({"message": thoughts}, ensure_ascii=False)
            calls = (
                ToolCall(id=f"plain_{session.next_seq}", name=SEND_MESSAGE, arguments=arguments),
            )
            thoughts = ""
        now = self.clock.now()
        seq = session.next_seq
        session.add(
            [
                Message(
                    seq=seq,
                    role="assistant",
                    kind="assistant",
                    content=thoughts,
                    tool_calls=calls,
                    created_at=now,
                    event_id=event.event_id,
                    trace=turn.trace,
                )
            ]
        )
        turn.trace = None
        ctx = ToolContext(
            agent_key=event.agent_key,
            event=event,
            call_key="",
            now=now,
            timezone=session.tz,
            memory=session.state.memory,
            recall=self.recall,
            archival=self.archival,
            counter=self.counter,
            visible_upto_seq=session.state.last_seq,
            embedder=self.embedder,
            home=session.state.home,
            page_size=self.settings.page_size,
            block_limit=self.settings.block_limit,
            checkins=self.checkins,
        )
        heartbeat = False
        results = []
        edits: list[MemoryEdit] = []
        for i, call in enumerate(calls):
            ctx.call_key = f"{event.event_id}:{seq}:{i}"
            before = ctx.memory
            ctx.hits = []
            started = self.clock.now()
            result = await self.tools.execute(call, ctx)
            took = (self.clock.now() - started).total_seconds() * 1000
            if ctx.memory is not before:
                by = Editor(kind="agent", id=event.agent_key, name=call.name)
                edits.extend(edits_between(event.agent_key, before, ctx.memory, by, now))
            heartbeat = heartbeat or result.heartbeat
            results.append(
                Message(
                    seq=seq + 1 + i,
                    role="tool",
                    kind="tool_result",
                    content=result.text,
                    created_at=now,
                    event_id=event.event_id,
                    tool_call_id=call.id,
                    tool_name=call.name,
                    call=CallTrace(duration_ms=round(took, 3), hits=tuple(ctx.hits)),
                )
            )
        session.add(results)
        outbox = list(ctx.replies)
        if heartbeat and last:
            heartbeat = False
            outbox.extend(self._stop_chain(session, turn, said=bool(turn.replies or ctx.replies)))
        return Step(ctx.memory, heartbeat, tuple(outbox), tuple(edits))

    def _stop_chain(self, session: AgentSession, turn: Turn, *, said: bool) -> list[SendReply]:
        """The chain hit the step cap: the agent is told, and so is the person."""
        event = turn.event
        steps = self.settings.max_steps
        alert = CHAIN_STOPPED_ALERT.format(steps=steps)
        session.add([session.alert(alert, self.clock.now(), event.event_id)])
        log.warning(
            "chain stopped at the step cap (%d calls)",
            steps,
            extra={"agent_key": event.agent_key, "event_id": event.event_id},
        )
        text = CHAIN_CAPPED_AFTER_REPLIES if said else CHAIN_CAPPED_NOTICE
        capped = notice(event, session.state.home, "capped", text)
        return [capped] if capped is not None else []


def _unique_ids(calls: Sequence[ToolCall]) -> tuple[ToolCall, ...]:
    """Some servers repeat or omit tool-call ids; the protocol needs them unique."""
    seen: set[str] = set()
    out = []
    for i, call in enumerate(calls):
        call_id = call.id or f"call_{i}"
        while call_id in seen:
            call_id = f"{call_id}_{i}"
        seen.add(call_id)
        out.append(call if call_id == call.id else call.model_copy(update={"id": call_id}))
    return tuple(out)
