"""Admit: what becomes of an event before any model call.

A replay of an event whose last step is stored ends there, or resumes its open chain; an
event stored already, with others handled since, is never turned twice; a check-in while the
person was just active, or with nowhere to write to, is skipped. Otherwise the event's
message joins the context (a very long one is also kept in archival memory, in chunks), and
an agent past its daily token budget keeps the message and says so instead of calling the
model. An agent an operator paused keeps the message too, calls no model, and says so once
per pause; its check-ins pass.
"""

from __future__ import annotations

import logging

from core.context.chunking import chunk_text
from core.context.layout import PromptLayout
from core.context.tokens import TokenCounter
from core.events import Event, TimerFired, reply_address
from core.messages import Message, event_message
from core.notices import BUDGET_NOTICE, PAUSED_NOTICE, notice
from core.ports import ArchivalStore, Clock, Embedder
from core.records import AgentState, Passage
from core.turn.commit import StepCommit
from core.turn.delivery import ReplyDelivery
from core.turn.outcome import Turn, TurnOutcome
from core.turn.session import AgentSession
from core.turn.settings import AgentSettings

log = logging.getLogger(__name__)


class Admission:
    def __init__(
        self,
        *,
        commit: StepCommit,
        delivery: ReplyDelivery,
        archival: ArchivalStore,
        embedder: Embedder | None,
        counter: TokenCounter,
        layout: PromptLayout,
        clock: Clock,
        settings: AgentSettings,
    ) -> None:
        self.commit = commit
        self.delivery = delivery
        self.archival = archival
        self.embedder = embedder
        self.counter = counter
        self.layout = layout
        self.clock = clock
        self.settings = settings

    async def admit(self, session: AgentSession, turn: Turn) -> TurnOutcome | None:
        """The outcome if the event ends here; None if its chain is to run (or go on)."""
        event = turn.event
        state = session.state
        extra = {"agent_key": event.agent_key, "event_id": event.event_id}
        if state.last_event_id == event.event_id:
            # A replay of an event whose last step is stored: finish what is left.
            if not state.chain_open:
                return TurnOutcome(event.event_id, 0, state.outbox, replayed=True)
            return None
        if event.event_id in state.recent_event_ids:
            # Stored already, and other events were handled since (replicas can hand events
            # over out of order): never turn it twice.
            log.warning("event already handled; not running it again", extra=extra)
            return TurnOutcome(event.event_id, 0, replayed=True)
        if state.paused_at is not None:
            return await self._hold_while_paused(session, turn)
        if self._recently_active(state, event):
            log.info("check-in skipped: the user was active recently", extra=extra)
            return TurnOutcome(event.event_id, 0, skipped=True)
        if isinstance(event, TimerFired) and reply_address(event, state.home) is None:
            log.warning(
                "check-in %s has no conversation to write to; not calling the model",
                event.checkin_id,
                extra=extra,
            )
            return TurnOutcome(event.event_id, 0, skipped=True)
        await self.add_message(session, event)
        if self._over_budget(session.state):
            return await self._decline_over_budget(session, turn)
        return None

    async def add_message(self, session: AgentSession, event: Event) -> None:
        """The event's message joins the context (unfiled: the next recall write keeps it)."""
        state = session.state
        idle = (self.clock.now() - state.updated_at).total_seconds()
        if state.shown_memory is not None and idle >= self.settings.cache_idle_seconds:
            await self.commit.show_current_memory(session)
        message = event_message(event, session.next_seq)
        limit = self.layout.max_message_tokens
        if message.kind != "assistant" and len(message.content) > limit:
            if self.counter.count(message.content) > limit:
                await self._archive_long_message(event, message)
        session.add([message])

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

    async def _decline_over_budget(self, session: AgentSession, turn: Turn) -> TurnOutcome:
        """Keep the message, call no model, and say why (to a person; a timer just passes)."""
        event = turn.event
        log.info(
            "daily token budget spent; not calling the model",
            extra={"agent_key": event.agent_key, "event_id": event.event_id},
        )
        told = notice(event, session.state.home, "budget", BUDGET_NOTICE)  # a timer: none
        outbox = (told,) if told is not None else ()
        await self.commit.file(session)
        await self.commit.store(
            session, turn, session.state.memory, chain_open=False, outbox=outbox
        )
        await self.delivery.send_stored(session.state, outbox)
        return TurnOutcome(
            event.event_id, 0, outbox, error="daily token budget spent", skipped=True
        )

    async def _hold_while_paused(self, session: AgentSession, turn: Turn) -> TurnOutcome:
        """An operator paused the agent: keep the message, call no model, and tell the
        person once per pause (a check-in just passes)."""
        event = turn.event
        extra = {"agent_key": event.agent_key, "event_id": event.event_id}
        if isinstance(event, TimerFired):
            log.info("check-in skipped: the agent is paused", extra=extra)
            return TurnOutcome(event.event_id, 0, skipped=True)
        log.info("agent paused; message kept, no model call", extra=extra)
        await self.add_message(session, event)
        state = session.state
        told = (
            None if state.pause_notice_sent else notice(event, state.home, "paused", PAUSED_NOTICE)
        )
        outbox = (told,) if told is not None else ()
        if told is not None:
            session.set_state(state.model_copy(update={"pause_notice_sent": True}))
        await self.commit.file(session)
        await self.commit.store(
            session, turn, session.state.memory, chain_open=False, outbox=outbox
        )
        await self.delivery.send_stored(session.state, outbox)
        return TurnOutcome(event.event_id, 0, outbox, skipped=True)

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
