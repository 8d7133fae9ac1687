"""The traces of an agent's past turns ("why did it say that"), rebuilt from what is stored
anyway: no write of its own on the path of a message.

A turn is one event's processing: its message (a person's, a check-in's, ...) and the
answers and function results that followed, all stored with the event's id. Each answer
carries the trace of the model call that produced it (``core.messages.StepTrace``): the
span of messages the prompt held, the hash of its system text (stored once per distinct
text), the tools' hash, the time zone and limits it was rendered with, our token count by
part, the provider's usage and the latency; each function result carries its duration and
the search hits with their scores. A failed call's trace is kept in the agent state.

The exact request is rebuilt with the turn's own rendering (``PromptLayout.render``) and the
model adapter's own body writer (given by the composition root), so it can be compared byte
for byte with what the model server received. A turn's id is the number of its first
message, so reading one is a range read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.clock import zone
from core.context.layout import PromptLayout
from core.messages import Message, StepTrace
from core.operator.errors import NotFoundError
from core.operator.messages import OperatorMessages
from core.operator.paging import Listing, check_limit, decode, encode
from core.ports import AgentStore, SystemTexts
from core.ports.model import ChatRequest, PromptMessage
from core.records import AgentState, FailedCall

TURNS = "turns"
_CHUNK = 200
_MAX_TURN = 2000  # messages one turn may span, at most (steps x calls, with room)

RequestWriter = Callable[[ChatRequest], bytes]


@dataclass(frozen=True, slots=True)
class TurnSummary:
    turn_id: int  # the number of its first message
    event_id: str
    messages: tuple[Message, ...]
    failed: tuple[FailedCall, ...]

    @property
    def start(self) -> Message:
        return self.messages[0]

    @property
    def replies(self) -> tuple[str, ...]:
        said = (m.spoken_text() for m in self.messages if m.kind == "assistant")
        return tuple(s for s in said if s)

    @property
    def traces(self) -> tuple[StepTrace, ...]:
        return tuple(m.trace for m in self.messages if m.trace is not None)

    @property
    def tokens(self) -> int:
        every = (*self.traces, *(f.trace for f in self.failed))
        return sum((t.prompt_tokens or 0) + (t.completion_tokens or 0) for t in every)

    @property
    def error(self) -> str | None:
        return self.failed[-1].trace.error if self.failed else None


@dataclass(frozen=True, slots=True)
class StepDetail:
    """One model call: what it was sent (rebuilt), what it answered, what its calls did."""

    trace: StepTrace
    answer: Message | None  # None for a failed call
    results: tuple[Message, ...]
    system_text: str | None  # None: not stored (a trace from before traces were kept)
    tools_changed: bool  # the functions differ from the ones the call was sent
    request_body: str | None


@dataclass(frozen=True, slots=True)
class TurnDetail:
    summary: TurnSummary
    steps: tuple[StepDetail, ...]


class TurnTraces:
    def __init__(
        self,
        *,
        agents: AgentStore,
        messages: OperatorMessages,
        system_texts: SystemTexts,
        layout: PromptLayout,
        writer: RequestWriter | None,
    ) -> None:
        self.agents = agents
        self.messages = messages
        self.system_texts = system_texts
        self.layout = layout
        self.writer = writer

    async def _state(self, agent_key: str) -> AgentState:
        state = await self.agents.load(agent_key)
        if state is None:
            raise NotFoundError(f"there is no agent {agent_key!r}")
        return state

    async def page(self, agent_key: str, *, cursor: str | None, limit: int) -> Listing[TurnSummary]:
        """Turns newest first, each whole (a page's cursor is its oldest turn's id)."""
        check_limit(limit)
        after = decode(TURNS, cursor)
        state = await self._state(agent_key)
        upto = state.last_seq if after is None else min(state.last_seq, int(after[0]) - 1)
        turns: list[TurnSummary] = []
        group: list[Message] = []  # the turn being gathered, newest first
        while upto > 0 and len(turns) <= limit:
            chunk = await self.messages.read(state, max(0, upto - _CHUNK), upto)
            upto -= _CHUNK
            for message in reversed(chunk):
                if group and message.event_id != group[-1].event_id:
                    turns.append(self._summary(state, group[::-1]))
                    group = []
                group.append(message)
        if group and len(turns) <= limit:
            turns.append(self._summary(state, group[::-1]))  # the oldest one is complete
        shown = turns[:limit]
        more = len(turns) > limit
        return Listing(tuple(shown), encode(TURNS, (shown[-1].turn_id,)) if more else None)

    def _summary(self, state: AgentState, messages: list[Message]) -> TurnSummary:
        event_id = messages[0].event_id or ""
        failed = tuple(f for f in state.failed_calls if f.event_id == event_id)
        return TurnSummary(messages[0].seq, event_id, tuple(messages), failed)

    async def get(self, agent_key: str, turn_id: str) -> TurnDetail:
        state = await self._state(agent_key)
        try:
            first = int(turn_id)
        except ValueError:
            first = 0
        if not 1 <= first <= state.last_seq:
            raise NotFoundError(f"the agent has no turn {turn_id!r}")
        messages = await self._turn(state, first)
        if not messages or (first > 1 and await self._continues(state, messages[0])):
            raise NotFoundError(f"the agent has no turn {turn_id!r} (a turn's id is its first)")
        summary = self._summary(state, messages)
        steps: list[StepDetail] = []
        for i, message in enumerate(messages):
            if message.trace is not None:
                results = tuple(
                    m for m in messages[i + 1 :] if m.kind == "tool_result" and m.seq > message.seq
                )[: len(message.tool_calls)]
                steps.append(await self._step(state, message.trace, message, results))
        for failed in summary.failed:
            steps.append(await self._step(state, failed.trace, None, ()))
        steps.sort(key=lambda s: s.trace.at)
        return TurnDetail(summary, tuple(steps))

    async def _continues(self, state: AgentState, message: Message) -> bool:
        """Whether the message before this one belongs to the same turn."""
        before = await self.messages.read(state, message.seq - 2, message.seq - 1)
        return bool(before) and before[0].event_id == message.event_id

    async def _turn(self, state: AgentState, first: int) -> list[Message]:
        out: list[Message] = []
        at = first - 1
        while at < min(state.last_seq, first - 1 + _MAX_TURN):
            chunk = await self.messages.read(state, at, min(at + _CHUNK, state.last_seq))
            if not chunk:
                break
            event_id = (out or chunk)[0].event_id
            for message in chunk:
                if message.event_id != event_id:
                    return out
                out.append(message)
            at += _CHUNK
        return out

    async def _step(
        self,
        state: AgentState,
        trace: StepTrace,
        answer: Message | None,
        results: tuple[Message, ...],
    ) -> StepDetail:
        system = await self.system_texts.get(trace.system_sha256)
        changed = trace.tools_sha256 != self.layout.tools_sha256
        body = None
        if system is not None and self.writer is not None:
            body = self.writer(await self._request(state, trace, system)).decode()
        return StepDetail(trace, answer, results, system, changed, body)

    async def _request(self, state: AgentState, trace: StepTrace, system: str) -> ChatRequest:
        """The request as the call made it: its system text, then its messages rendered as
        the turn renders them, with the tools and reply limit it was sent."""
        layout = self.layout
        if trace.max_message_tokens != layout.max_message_tokens:
            layout = PromptLayout(
                layout.instructions,
                layout.tools,
                layout.counter,
                max_message_tokens=trace.max_message_tokens,
            )
        tz = zone(trace.timezone)
        shown = await self.messages.read(state, trace.first_seq - 1, trace.last_seq)
        return ChatRequest(
            messages=(PromptMessage("system", system), *(layout.render(m, tz) for m in shown)),
            tools=layout.tools,
            max_reply_tokens=trace.max_reply_tokens,
            agent_key=state.agent_key,
        )
