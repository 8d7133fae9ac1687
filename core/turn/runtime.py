"""The agent turn: one event in, a chain of model steps out, each stored before it is acted on.

A turn reads as its steps. Admit the event (``admission``): a replay resumes or ends, a
check-in may be skipped, the event's message joins the context, a spent budget is told.
Then, while the chain goes on, up to ``max_steps`` model calls per event:

1. file what recall storage does not have yet (``commit``: the event's message, the last
   step's messages), so a person's message is kept before the model is called;
2. make room in the context (``room``: warn, or evict into the recursive summary);
3. call the model (``model_call``);
4. run the tools it called (``tools_step``);
5. store the step (``commit``: the state with its version bumped, carrying the step's
   messages until the next recall write, and the replies it is about to send);
6. deliver what it said (``delivery``).

Nothing from the model path is lost: any failure of the call is stored with the message and
told to the person. Crash safety: the state records the last event and whether its chain was
still open, so replaying an event resumes instead of repeating it. Events for one agent reach
the runtime one at a time, in order: the dispatcher (``core.inbound.dispatch``) owns that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from core.checkins.service import CheckinService
from core.context.layout import PromptLayout, PromptTexts
from core.context.tokens import TokenCounter
from core.errors import ConfigurationError, LLMAuthenticationError, LLMError, StorageError
from core.events import Event, OperatorChangeRequested, SendReply, TimerFired
from core.inbound.leases import SoleWorkerLeases
from core.notices import GAVE_UP_REASON, LLM_FAILED_NOTICE, failure_reason, notice
from core.operator.changes import ChangeApplier
from core.operator.ports import MemoryEditStore
from core.ports import (
    AgentStore,
    ArchivalStore,
    ChatModel,
    Clock,
    Embedder,
    Inbox,
    Leases,
    RecallStore,
    ReplySink,
    SystemTexts,
    TurnObserver,
)
from core.tools.registry import ToolRegistry
from core.turn.admission import Admission
from core.turn.commit import StepCommit
from core.turn.delivery import ReplyDelivery
from core.turn.model_call import ModelCall
from core.turn.outcome import Turn, TurnOutcome
from core.turn.room import MakeRoom
from core.turn.session import AgentSession
from core.turn.sessions import SessionCache
from core.turn.settings import AgentSettings
from core.turn.summary import Summarizer
from core.turn.tools_step import RunTools

log = logging.getLogger(__name__)


class AgentRuntime:
    def __init__(
        self,
        *,
        model: ChatModel,
        agents: AgentStore,
        recall: RecallStore,
        archival: ArchivalStore,
        tools: ToolRegistry,
        prompts: PromptTexts,
        counter: TokenCounter,
        clock: Clock,
        replies: ReplySink,
        settings: AgentSettings = AgentSettings(),
        embedder: Embedder | None = None,
        observer: TurnObserver | None = None,
        leases: Leases | None = None,
        checkins: CheckinService | None = None,
        inbox: Inbox | None = None,
        on_turn_end: Callable[[Event, TurnOutcome | None, str | None], None] | None = None,
        system_texts: SystemTexts | None = None,
        edits: MemoryEditStore | None = None,
    ) -> None:
        self.prompts = prompts
        # told of every turn's end: its outcome, or (given up) the error
        self.on_turn_end = on_turn_end
        self.settings = settings
        self.checkins = checkins
        self.layout = PromptLayout(
            prompts.system,
            tools.schemas(),
            counter,
            max_message_tokens=int(settings.context_window * settings.max_message_fraction),
        )
        self._check_budget()
        self.delivery = ReplyDelivery(replies, inbox)
        self.sessions = SessionCache(
            agents=agents,
            recall=recall,
            layout=self.layout,
            prompts=prompts,
            delivery=self.delivery,
            clock=clock,
            block_limit=settings.block_limit,
            timezone=settings.timezone,
            capacity=settings.session_cache,
        )
        self.commit = StepCommit(
            agents=agents,
            recall=recall,
            clock=clock,
            leases=leases or SoleWorkerLeases(),
            observer=observer,
            checkins=checkins,
            edits=edits,
        )
        self.admission = Admission(
            commit=self.commit,
            delivery=self.delivery,
            archival=archival,
            embedder=embedder,
            counter=counter,
            layout=self.layout,
            clock=clock,
            settings=settings,
        )
        summarizer = Summarizer(
            model,
            counter,
            prompts.summarize,
            input_budget=settings.context_window - settings.summary_tokens,
            summary_tokens=settings.summary_tokens,
        )
        self.room = MakeRoom(
            summarizer=summarizer,
            counter=counter,
            commit=self.commit,
            clock=clock,
            settings=settings,
        )
        self.model_call = ModelCall(
            model=model,
            layout=self.layout,
            counter=counter,
            room=self.room,
            settings=settings,
            clock=clock,
            system_texts=system_texts,
        )
        # an operator's change to the state, applied between turns, never calling the model
        self.changes = ChangeApplier(
            agents, fence=self.commit.fence, forget=self.forget, edits=edits, recall=recall
        )
        self.run_tools = RunTools(
            tools=tools,
            recall=recall,
            archival=archival,
            counter=counter,
            clock=clock,
            settings=settings,
            embedder=embedder,
            checkins=checkins,
        )

    # ------------------------------------------------------------------ public API

    async def handle(self, event: Event) -> TurnOutcome:
        """Process one event for its agent."""
        key = event.agent_key
        if isinstance(event, OperatorChangeRequested):  # no model call, no message
            await self.changes.apply(event)
            return TurnOutcome(event.event_id, 0)
        with self.sessions.using(key):
            session = await self.sessions.get(key)
            try:
                outcome = await self._turn(session, Turn(event))
            except BaseException:
                session.rollback()
                self.forget(key)
                raise
        if isinstance(event, TimerFired) and self.checkins is not None:
            await self.checkins.record_turn(event.checkin_id, outcome.tokens, outcome.skipped)
        if self.on_turn_end is not None:
            self.on_turn_end(event, outcome, None)
        return outcome

    async def session(self, agent_key: str) -> AgentSession:
        """The agent's main context, loaded (or created) on first use and cached."""
        return await self.sessions.get(agent_key)

    def forget(self, agent_key: str) -> None:
        """Drop the cached context (after an error, or when another worker took the agent)."""
        self.sessions.forget(agent_key)

    async def give_up(self, event: Event, error: str) -> None:
        """The event failed on every attempt: keep its message in the log (stored without a
        model call, if it is not there yet) and tell the person it is saved but unanswered.
        An operator's change that failed is not the person's business: the operator's request
        already answered with the failure."""
        if isinstance(event, OperatorChangeRequested):
            return
        key = event.agent_key
        extra = {"agent_key": key, "event_id": event.event_id}
        home = None
        with self.sessions.using(key):
            try:
                session = await self.sessions.get(key)
                home = session.state.home
                stored = session.state
                if event.event_id not in (stored.last_event_id, *stored.recent_event_ids):
                    turn = Turn(event)
                    await self.admission.add_message(session, event)
                    await self.commit.file(session)
                    await self.commit.store(
                        session, turn, stored.memory, chain_open=False, outbox=()
                    )
            except StorageError as exc:
                self.forget(key)
                log.error(
                    "could not store the failed event's message (%s); it stays in the inbox",
                    exc,
                    extra=extra,
                )
            except Exception:
                self.forget(key)
                log.exception(
                    "could not store the failed event's message; it stays in the inbox",
                    extra=extra,
                )
        failed = notice(event, home, "failed", LLM_FAILED_NOTICE.format(reason=GAVE_UP_REASON))
        await self.delivery.send([failed] if failed else [])
        if self.on_turn_end is not None:
            self.on_turn_end(event, None, error)

    # ------------------------------------------------------------------ the steps

    async def _turn(self, session: AgentSession, turn: Turn) -> TurnOutcome:
        await self.delivery.send_left_over(session)
        ended = await self.admission.admit(session, turn)
        if ended is not None:
            return ended
        steps = 0
        try:
            while True:
                steps += 1
                await self.commit.file(session)
                await self.room.make_room(session, turn)
                response = await self.model_call.call(session, turn)
                last = steps >= self.settings.max_steps
                step = await self.run_tools.run(session, turn, response, last=last)
                await self.commit.store(
                    session,
                    turn,
                    step.memory,
                    chain_open=step.heartbeat,
                    outbox=step.outbox,
                    edits=step.edits,
                )
                await self._deliver(session, turn, step.outbox)
                if not step.heartbeat:
                    return turn.outcome(steps)
        except LLMError as exc:
            return await self._model_failed(session, turn, steps, exc)

    async def _deliver(
        self, session: AgentSession, turn: Turn, outbox: tuple[SendReply, ...]
    ) -> None:
        turn.replies.extend(outbox)
        if outbox:
            # If the lease slipped away meanwhile, the new owner replays this stored step and
            # delivers it: sending here as well would send it twice.
            self.commit.fence(session.state.agent_key)
        await self.delivery.send_stored(session.state, outbox)

    async def _model_failed(
        self, session: AgentSession, turn: Turn, steps: int, exc: LLMError
    ) -> TurnOutcome:
        """Store the message with what the chain did so far, and tell the person."""
        event = turn.event
        extra = {"agent_key": event.agent_key, "event_id": event.event_id}
        if isinstance(exc, LLMAuthenticationError):
            log.error("turn failed: %s; fix PAGEMIND_LLM_API_KEY", exc, extra=extra)
        else:
            log.warning("turn failed: %s", exc, extra=extra)
        reason = LLM_FAILED_NOTICE.format(reason=failure_reason(exc))
        failed = notice(event, session.state.home, "failed", reason)
        outbox = (failed,) if failed else ()
        await self.commit.store(
            session, turn, session.state.memory, chain_open=False, outbox=outbox
        )
        await self.delivery.send_stored(session.state, outbox)
        return turn.outcome(steps, error=f"{type(exc).__name__}: {exc}")

    def _check_budget(self) -> None:
        s = self.settings
        needed = self.layout.fixed_tokens + 2 * s.block_limit // 3 + s.summary_tokens + 512
        if s.context_window - s.reply_tokens < needed:
            raise ConfigurationError(
                f"the context window ({s.context_window:,} tokens) is too small: instructions, "
                f"functions, working context and summary need about {needed:,} tokens plus "
                f"{s.reply_tokens:,} for the reply. Set PAGEMIND_CONTEXT_WINDOW to the model's "
                "real window."
            )
