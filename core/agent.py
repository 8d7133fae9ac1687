"""The agent turn: one event in, a chain of LLM steps out, each step stored before it is acted on.

A step is: write what recall storage does not have yet (the event's message and the last
step's messages), make room in the context (warn, or evict into the recursive summary), call
the model, run the functions it called, store the step (the agent state with its version
bumped, carrying the step's new messages until the next recall write), then deliver what it
said. The chain goes on while a function asked for a heartbeat (or failed), up to
``max_steps`` per event; a chain stopped there tells the person so.

Nothing from the model path is lost: a person's message is in recall before the model is
called, and any failure of the call (of whatever type) is stored with the message and told
to the person. Crash safety: recall holds only messages of stored steps and the input of the
event under way (numbered past ``last_seq``: discarded when the agent is next loaded, and
written again when the event is replayed). The state records the last event and whether its
chain was still open, so replaying an event resumes instead of repeating it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from core.agent_data import erase_agent
from core.checkins import CheckinService
from core.chunking import chunk_text
from core.context import PromptLayout, PromptTexts
from core.delivery import ReplyDelivery
from core.errors import (
    ConcurrentUpdateError,
    ConfigurationError,
    ContextWindowExceededError,
    LLMAuthenticationError,
    LLMError,
    StorageError,
)
from core.events import (
    Event,
    SendReply,
    TimerFired,
    UserMessageReceived,
)
from core.inbound import is_group_agent
from core.llm import ChatModel, ChatRequest, ChatResponse, Usage, complete_guarded
from core.memory import MemoryBlock, WorkingContext
from core.messages import SEND_MESSAGE, Message, ToolCall, event_message
from core.notices import (
    CHAIN_CAPPED_AFTER_REPLIES,
    CHAIN_CAPPED_NOTICE,
    GAVE_UP_REASON,
    LLM_FAILED_NOTICE,
    failure_reason,
    notice,
)
from core.ports import (
    AgentStore,
    ArchivalStore,
    Clock,
    Embedder,
    Inbox,
    RecallStore,
    ReplySink,
    TurnObserver,
)
from core.records import AgentState, Passage, TokenUsage
from core.session import AgentSession
from core.summary import Summarizer, fallback_summary
from core.tokens import TokenCounter
from core.tools.registry import ToolContext, ToolRegistry

log = logging.getLogger(__name__)

MEMORY_PRESSURE_ALERT = (
    "Memory pressure: your context is {percent}% full. Older messages will soon move out of "
    "view into a summary. Save anything important to working context or archival memory now."
)
CHAIN_STOPPED_ALERT = (
    "Your chain of function calls was stopped after {steps} steps without ending. "
    "Finish with send_message, or set request_heartbeat to false when you are done."
)
GROUP_NOTE = (
    "This is a group conversation. Each person has their own block, human:<their id>, "
    'made when you first note something about them; "human" means whoever wrote the message '
    "you are answering."
)
BUDGET_NOTICE = (
    "I've reached my conversation limit for today, so I can't answer right now. "
    "Your message is saved; I'll be back tomorrow."
)


@dataclass(frozen=True, slots=True)
class AgentSettings:
    context_window: int = 128_000
    reply_tokens: int = 1024
    warning_fraction: float = 0.70
    keep_fraction: float = 0.50
    max_steps: int = 10
    block_limit: int = 2000
    page_size: int = 5
    summary_tokens: int = 1024
    max_message_fraction: float = 0.25
    context_retries: int = 2
    timezone: str = "UTC"
    session_cache: int = 1000
    cache_idle_seconds: float = 600.0
    daily_token_budget: int | None = None
    checkin_quiet_after_activity: float = 1800.0  # skip a check-in this soon after the user spoke


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    event_id: str
    steps: int
    replies: tuple[SendReply, ...] = ()
    error: str | None = None
    replayed: bool = False
    tokens: int = 0  # prompt + completion tokens this event cost
    skipped: bool = False  # declined before any model call (budget, recent activity)


@dataclass
class _Turn:
    """What one event's processing has gathered that is not stored yet."""

    event: Event
    usage: TokenUsage = field(default_factory=TokenUsage)
    spent: int = 0  # tokens over the whole event (usage is reset as it is stored)
    warned: bool = False
    replies: list[SendReply] = field(default_factory=list)


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
        fence: Callable[[str], None] | None = None,
        checkins: CheckinService | None = None,
        on_reachable: Callable[[AgentState], Awaitable[None]] | None = None,
        inbox: Inbox | None = None,
    ) -> None:
        self.model = model
        self.observer = observer
        self.fence = fence or (lambda agent_key: None)
        self.checkins = checkins
        # Called once an agent first has a conversation to write to (its ``home``), before
        # that is stored: the operator's default check-in is created there.
        self.on_reachable = on_reachable
        self.agents = agents
        self.recall = recall
        self.archival = archival
        self.tools = tools
        self.prompts = prompts
        self.counter = counter
        self.clock = clock
        self.delivery = ReplyDelivery(replies, inbox)
        self.settings = settings
        self.embedder = embedder
        self.layout = PromptLayout(
            prompts.system,
            tools.schemas(),
            counter,
            max_message_tokens=int(settings.context_window * settings.max_message_fraction),
        )
        self._check_budget()
        self.summarizer = Summarizer(
            model,
            counter,
            prompts.summarize,
            input_budget=settings.context_window - settings.summary_tokens,
            summary_tokens=settings.summary_tokens,
        )
        self._sessions: OrderedDict[str, AgentSession] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------------ public API

    async def handle(self, event: Event) -> TurnOutcome:
        """Process one event for its agent. Events for one agent are serialised here too."""
        lock = self._locks.setdefault(event.agent_key, asyncio.Lock())
        async with lock:
            session = await self.session(event.agent_key)
            try:
                return await self._run(session, _Turn(event))
            except BaseException:
                session.rollback()
                self.forget(event.agent_key)
                raise

    async def session(self, agent_key: str) -> AgentSession:
        """The agent's main context, loaded (or created) on first use and cached."""
        session = self._sessions.get(agent_key)
        if session is not None:
            self._sessions.move_to_end(agent_key)
            return session
        state = await self.agents.load(agent_key)
        if state is None:
            state = await self._create(agent_key)
        await self.recall.discard_after(agent_key, state.last_seq)
        fifo = await self.recall.range(agent_key, state.summary_upto_seq, state.last_seq)
        session = AgentSession(state, fifo, self.layout)
        session.outbox_unsent = await self.delivery.unsent(state)
        self._sessions[agent_key] = session
        while len(self._sessions) > self.settings.session_cache:
            oldest = next(iter(self._sessions))
            if self._locks.get(oldest, asyncio.Lock()).locked():
                break
            self.forget(oldest)
        return session

    def forget(self, agent_key: str) -> None:
        """Drop the cached context (after an error, or when another worker took the agent)."""
        self._sessions.pop(agent_key, None)

    async def erase(self, agent_key: str, inbox: Inbox) -> None:
        """Delete everything the agent has, in every tier, and forget it."""
        lock = self._locks.setdefault(agent_key, asyncio.Lock())
        async with lock:
            self.forget(agent_key)
            await erase_agent(
                agent_key,
                agents=self.agents,
                recall=self.recall,
                archival=self.archival,
                inbox=inbox,
            )

    # ------------------------------------------------------------------ the chain

    async def _run(self, session: AgentSession, turn: _Turn) -> TurnOutcome:
        event = turn.event
        state = session.state
        if session.outbox_unsent:
            # Loaded from storage with the last step's replies: its worker may have died
            # between storing that step and sending them. Send them before anything else,
            # or a later event would overwrite them unsent.
            session.outbox_unsent = False
            await self.delivery.send_stored(state, state.outbox)
        if state.last_event_id == event.event_id:
            # A replay of an event whose last step is stored: finish what is left.
            if not state.chain_open:
                return TurnOutcome(event.event_id, 0, state.outbox, replayed=True)
        elif event.event_id in state.recent_event_ids:
            # Stored already, and other events were handled since (replicas can hand events
            # over out of order): never turn it twice.
            log.warning(
                "event already handled; not running it again",
                extra={"agent_key": event.agent_key, "event_id": event.event_id},
            )
            return TurnOutcome(event.event_id, 0, replayed=True)
        else:
            if self._recently_active(session.state, event):
                log.info(
                    "check-in skipped: the user was active recently",
                    extra={"agent_key": event.agent_key, "event_id": event.event_id},
                )
                return TurnOutcome(event.event_id, 0, skipped=True)
            if isinstance(event, TimerFired) and event.reply_to is None and state.home is None:
                log.warning(
                    "check-in %s has no conversation to write to; not calling the model",
                    event.checkin_id,
                    extra={"agent_key": event.agent_key, "event_id": event.event_id},
                )
                return TurnOutcome(event.event_id, 0, skipped=True)
            await self._admit(session, event)
            if self._over_budget(session.state):
                return await self._decline_over_budget(session, turn)
        steps = 0
        try:
            while True:
                steps += 1
                await self._file(session)
                turn.warned = await self._make_room(session, turn) or turn.warned
                response = await self._complete(session, turn)
                heartbeat = await self._act(
                    session, turn, response, last=steps >= self.settings.max_steps
                )
                if not heartbeat:
                    break
        except LLMError as exc:
            extra = {"agent_key": event.agent_key, "event_id": event.event_id}
            if isinstance(exc, LLMAuthenticationError):
                log.error("turn failed: %s; fix PAGEMIND_LLM_API_KEY", exc, extra=extra)
            else:
                log.warning("turn failed: %s", exc, extra=extra)
            failed = notice(
                event,
                session.state.home,
                "failed",
                LLM_FAILED_NOTICE.format(reason=failure_reason(exc)),
            )
            outbox = (failed,) if failed else ()
            await self._commit(session, turn, session.state.memory, chain_open=False, outbox=outbox)
            await self.delivery.send_stored(session.state, outbox)
            return TurnOutcome(
                event.event_id,
                steps,
                tuple(turn.replies),
                error=f"{type(exc).__name__}: {exc}",
                tokens=turn.spent,
            )
        return TurnOutcome(event.event_id, steps, tuple(turn.replies), tokens=turn.spent)

    async def give_up(self, event: Event, error: str) -> None:
        """The event failed on every attempt: keep its message in the log (stored without a
        model call, if it is not there yet) and tell the person it is saved but unanswered."""
        lock = self._locks.setdefault(event.agent_key, asyncio.Lock())
        async with lock:
            home = None
            try:
                session = await self.session(event.agent_key)
                home = session.state.home
                stored = session.state
                if event.event_id not in (stored.last_event_id, *stored.recent_event_ids):
                    turn = _Turn(event)
                    await self._admit(session, event)
                    await self._file(session)
                    await self._commit(session, turn, stored.memory, chain_open=False, outbox=())
            except StorageError as exc:
                self.forget(event.agent_key)
                log.error(
                    "could not store the failed event's message (%s); it stays in the inbox",
                    exc,
                    extra={"agent_key": event.agent_key, "event_id": event.event_id},
                )
            except Exception:
                self.forget(event.agent_key)
                log.exception(
                    "could not store the failed event's message; it stays in the inbox",
                    extra={"agent_key": event.agent_key, "event_id": event.event_id},
                )
            failed = notice(event, home, "failed", LLM_FAILED_NOTICE.format(reason=GAVE_UP_REASON))
            await self.delivery.send([failed] if failed else [])

    def _recently_active(self, state: AgentState, event: Event) -> bool:
        """The cheap check before a check-in: no model call if the user spoke recently."""
        last = state.last_user_message_at
        window = self.settings.checkin_quiet_after_activity
        return (
            isinstance(event, TimerFired)
            and last is not None
            and (event.occurred_at - last).total_seconds() < window
        )

    def _over_budget(self, state: AgentState) -> bool:
        budget = state.daily_token_budget or self.settings.daily_token_budget  # its own first
        today = self.clock.now().date().isoformat()
        return (
            budget is not None
            and state.usage_day == today
            and state.usage_today.total_tokens >= budget
        )

    async def _decline_over_budget(self, session: AgentSession, turn: _Turn) -> TurnOutcome:
        """Keep the message, call no model, and say why (to a person; a timer just passes)."""
        event = turn.event
        log.info(
            "daily token budget spent; not calling the model",
            extra={"agent_key": event.agent_key, "event_id": event.event_id},
        )
        notice: tuple[SendReply, ...] = ()
        if isinstance(event, UserMessageReceived):
            notice = (
                SendReply(
                    agent_key=event.agent_key,
                    event_id=event.event_id,
                    idempotency_key=f"{event.event_id}:budget",
                    text=BUDGET_NOTICE,
                    address=event.reply_to or session.state.home,
                ),
            )
        await self._file(session)
        await self._commit(session, turn, session.state.memory, chain_open=False, outbox=notice)
        await self.delivery.send_stored(session.state, notice)
        return TurnOutcome(
            event.event_id, 0, notice, error="daily token budget spent", skipped=True
        )

    async def _file(self, session: AgentSession) -> None:
        """Write to recall whatever it does not have yet: the event's message (so it is kept
        whatever the model does) and the messages the last stored step carried."""
        if session.unfiled:
            key = session.state.agent_key
            self.fence(key)
            await self.recall.append(key, session.unfiled)
            session.filed()

    async def _admit(self, session: AgentSession, event: Event) -> None:
        state = session.state
        idle = (self.clock.now() - state.updated_at).total_seconds()
        if state.shown_memory is not None and idle >= self.settings.cache_idle_seconds:
            # The provider's prompt cache has expired by now: showing the current working
            # context costs nothing extra.
            refreshed = state.model_copy(update={"shown_memory": None})
            session.set_state(await self.agents.save(refreshed, state.version))
        seq = session.next_seq
        message = event_message(event, seq)
        if message.kind != "assistant" and len(message.content) > self.layout.max_message_tokens:
            if self.counter.count(message.content) > self.layout.max_message_tokens:
                await self._archive_long_message(event, message)
        session.add([message])

    async def _archive_long_message(self, event: Event, message: Message) -> None:
        chunks = chunk_text(message.content, self.counter, 300, 40)
        vectors = await self.embedder.embed(chunks) if self.embedder else None
        await self.archival.insert(
            event.agent_key,
            [
                Passage(
                    id=f"{event.event_id}:message:{i}",
                    text=chunk,
                    source=f"message #{message.seq}",
                    created_at=message.created_at,
                    chunk_index=i,
                    document_id=f"message-{message.seq}",
                    embedding=vectors[i] if vectors else None,
                )
                for i, chunk in enumerate(chunks)
            ],
        )

    async def _make_room(self, session: AgentSession, turn: _Turn) -> bool:
        """Flush when the prompt would not fit; warn once when it passes the warning line.
        Returns True if a memory-pressure alert was added."""
        s = self.settings
        limit = s.context_window - s.reply_tokens
        if self.counter.scaled(session.prompt_tokens()) > limit:
            await self._flush(session, turn, int(s.context_window * s.keep_fraction))
            return False
        size = self.counter.scaled(session.prompt_tokens())
        if size > s.warning_fraction * s.context_window and not session.state.memory_warning_sent:
            if turn.warned:
                return False
            percent = round(100 * size / s.context_window)
            alert = Message(
                seq=session.next_seq,
                role="user",
                kind="system_alert",
                content=MEMORY_PRESSURE_ALERT.format(percent=percent),
                created_at=self.clock.now(),
                event_id=turn.event.event_id,
            )
            session.add([alert])
            return True
        return False

    async def _flush(self, session: AgentSession, turn: _Turn, target: int) -> bool:
        """Evict the oldest stored messages until the prompt is about ``target`` tokens, and
        fold them into the recursive summary. The summary and the new FIFO start are stored
        together in one state update."""
        count = self._eviction_count(session, target)
        if count == 0:
            return False
        evicted = session.fifo[:count]
        state = session.state
        key = state.agent_key
        try:
            summary = await self.summarizer.summarize(state.summary, evicted, session.tz, key)
        except LLMError as exc:
            log.warning(
                "summary failed, keeping the old one with a pointer to recall: %s",
                exc,
                extra={"agent_key": key, "event_id": turn.event.event_id},
            )
            summary = fallback_summary(
                state.summary, evicted, session.tz, self.counter, self.settings.summary_tokens
            )
        for usage in self.summarizer.usage:
            turn.usage = turn.usage.plus(_usage(usage))
            turn.spent += usage.prompt_tokens + usage.completion_tokens
        self.summarizer.usage.clear()
        updated = self._stamp_usage(
            state.model_copy(
                update={
                    "summary": summary,
                    "summary_upto_seq": evicted[-1].seq,
                    "unfiled": session.unfiled_upto(state.last_seq),
                    "shown_memory": None,
                    "memory_warning_sent": False,
                    "updated_at": self.clock.now(),
                }
            ),
            turn,
        )
        self.fence(key)
        saved = await self.agents.save(updated, state.version)
        session.drop_oldest(count)
        session.set_state(saved)
        turn.warned = False
        log.info(
            "evicted %d messages (up to #%d) into the summary",
            count,
            evicted[-1].seq,
            extra={"agent_key": key, "event_id": turn.event.event_id},
        )
        return True

    def _eviction_count(self, session: AgentSession, target: int) -> int:
        total = session.prompt_tokens()
        freed = 0
        count = 0
        while count < session.committed and (
            self.counter.scaled(total - freed) > target or session.fifo[count].kind == "tool_result"
        ):
            freed += session.tokens[count]
            count += 1
        return count

    async def _complete(self, session: AgentSession, turn: _Turn) -> ChatResponse:
        s = self.settings
        for attempt in range(s.context_retries + 1):
            estimate = session.prompt_tokens()
            request = ChatRequest(
                messages=session.messages(),
                tools=self.layout.tools,
                max_reply_tokens=s.reply_tokens,
                agent_key=turn.event.agent_key,
                estimated_prompt_tokens=self.counter.scaled(estimate),
            )
            try:
                response = await complete_guarded(self.model, request)
            except ContextWindowExceededError:
                if attempt == s.context_retries:
                    raise
                log.warning(
                    "provider says the prompt is too long (we counted %d); flushing",
                    estimate,
                    extra={"agent_key": turn.event.agent_key, "event_id": turn.event.event_id},
                )
                self.counter.raise_correction(1.25)
                # The provider's window (or tokenizer) disagrees with ours: shrink from what
                # we actually sent, halving on each retry.
                target = int(min(s.context_window * s.keep_fraction, estimate) / 2 ** (attempt + 1))
                if not await self._flush(session, turn, target):
                    raise
                continue
            if response.usage:
                self.counter.observe(estimate, response.usage.prompt_tokens)
                turn.usage = turn.usage.plus(_usage(response.usage))
                turn.spent += response.usage.prompt_tokens + response.usage.completion_tokens
            return response
        raise AssertionError("unreachable")

    async def _act(
        self, session: AgentSession, turn: _Turn, response: ChatResponse, *, last: bool
    ) -> bool:
        """Record the model's answer, run its calls, store the step, deliver its messages.
        Returns whether the chain goes on."""
        event = turn.event
        calls = _unique_ids(response.tool_calls)
        thoughts = (response.content or "").strip()
        if not calls:
            if not thoughts:
                log.info(
                    "model answered with nothing; yielding",
                    extra={"agent_key": event.agent_key, "event_id": event.event_id},
                )
                await self._commit(session, turn, session.state.memory, chain_open=False, outbox=())
                return False
            # Plain text instead of a function call (common with small local models): the
            # words are meant for the user, so they are sent as if by send_message.
            seq = session.next_seq
            calls = (
                ToolCall(id=f"plain_{seq}", name=SEND_MESSAGE, arguments=_json_message(thoughts)),
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
                )
            ]
        )
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
        for i, call in enumerate(calls):
            ctx.call_key = f"{event.event_id}:{seq}:{i}"
            result = await self.tools.execute(call, ctx)
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
                )
            )
        session.add(results)
        outbox = list(ctx.replies)
        if heartbeat and last:
            heartbeat = False
            session.add(
                [
                    self._system_alert(
                        session, turn, CHAIN_STOPPED_ALERT.format(steps=self.settings.max_steps)
                    )
                ]
            )
            log.warning(
                "chain stopped at the step cap (%d calls)",
                self.settings.max_steps,
                extra={"agent_key": event.agent_key, "event_id": event.event_id},
            )
            said = turn.replies or ctx.replies
            capped = notice(
                event,
                session.state.home,
                "capped",
                CHAIN_CAPPED_AFTER_REPLIES if said else CHAIN_CAPPED_NOTICE,
            )
            if capped is not None:
                outbox.append(capped)
        await self._commit(session, turn, ctx.memory, chain_open=heartbeat, outbox=tuple(outbox))
        turn.replies.extend(outbox)
        if outbox:
            # If the lease slipped away meanwhile, the new owner replays this stored step and
            # delivers it: sending here as well would send it twice.
            self.fence(event.agent_key)
        await self.delivery.send_stored(session.state, outbox)
        return heartbeat

    def _system_alert(self, session: AgentSession, turn: _Turn, text: str) -> Message:
        return Message(
            seq=session.next_seq,
            role="user",
            kind="system_alert",
            content=text,
            created_at=self.clock.now(),
            event_id=turn.event.event_id,
        )

    async def _commit(
        self,
        session: AgentSession,
        turn: _Turn,
        memory: WorkingContext,
        *,
        chain_open: bool,
        outbox: tuple[SendReply, ...],
    ) -> None:
        """Store the step: the state, pointing past its messages and carrying those recall
        does not have yet."""
        state = session.state
        pending = session.uncommitted
        event = turn.event
        spoke = isinstance(event, UserMessageReceived)
        home = event.reply_to if spoke and event.reply_to else state.home
        if state.home is None and home is not None and self.on_reachable is not None:
            await self.on_reachable(state.model_copy(update={"home": home}))
        shown = state.prompt_memory
        last_seq = pending[-1].seq if pending else state.last_seq
        updated = self._stamp_usage(
            state.model_copy(
                update={
                    "memory": memory,
                    "shown_memory": None if memory == shown else shown,
                    "last_seq": last_seq,
                    "unfiled": session.unfiled_upto(last_seq),
                    "last_event_id": event.event_id,
                    "recent_event_ids": _remember(state.recent_event_ids, event.event_id),
                    "chain_open": chain_open,
                    "outbox": outbox,
                    "home": home,
                    "last_user_message_at": event.occurred_at
                    if spoke
                    else state.last_user_message_at,
                    "memory_warning_sent": state.memory_warning_sent or turn.warned,
                    "updated_at": self.clock.now(),
                }
            ),
            turn,
        )
        self.fence(state.agent_key)
        saved = await self.agents.save(updated, state.version)
        session.commit(saved)
        if self.observer is not None and pending:
            self.observer.step_stored(state.agent_key, pending)

    def _stamp_usage(self, state: AgentState, turn: _Turn) -> AgentState:
        if not turn.usage.calls:
            return state
        usage, turn.usage = turn.usage, TokenUsage()
        return state.with_usage(usage, self.clock.now().date().isoformat())

    # ------------------------------------------------------------------ set-up

    async def _create(self, agent_key: str) -> AgentState:
        now = self.clock.now()
        limit = self.settings.block_limit
        persona = MemoryBlock(label="persona", value=self.prompts.persona, limit=limit)
        if is_group_agent(agent_key):
            memory = WorkingContext(blocks=(persona,), note=GROUP_NOTE)
        else:
            human = MemoryBlock(label="human", value=self.prompts.human, limit=limit)
            memory = WorkingContext(blocks=(persona, human))
        state = AgentState(
            agent_key=agent_key,
            memory=memory,
            timezone=self.settings.timezone,
            created_at=now,
            updated_at=now,
        )
        try:
            return await self.agents.save(state, None)
        except ConcurrentUpdateError:
            existing = await self.agents.load(agent_key)
            if existing is None:
                raise
            return existing

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


RECENT_EVENTS = 128


def _remember(recent: tuple[str, ...], event_id: str) -> tuple[str, ...]:
    if recent and recent[-1] == event_id:
        return recent
    return (*recent, event_id)[-RECENT_EVENTS:]


def _usage(usage: Usage) -> TokenUsage:
    return TokenUsage(
        calls=1,
        prompt_tokens=usage.prompt_tokens,
        cached_tokens=usage.cached_tokens,
        completion_tokens=usage.completion_tokens,
    )


def _json_message(text: str) -> str:
    return json.dumps({"message": text}, ensure_ascii=False)


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
