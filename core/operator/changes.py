"""Changes to an agent's state asked for by an operator: they go through the agent's inbox.

The agent may be run by another replica, and its worker may be in the middle of a turn: a
change written to the state directly would race the turn's own save. So the API records an
``OperatorChangeRequested`` event like any other; the agent's worker applies it in order
with the agent's other events (never calling the model) and stores the outcome in the same
save as the change (``AgentState.operator_outcomes``): a replay after a crash finds it there
and changes nothing twice. The API waits until the event is processed, wherever, then reads
the outcome from the state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from core.events import Event, OperatorChange, OperatorChangeRequested, SetDailyBudget
from core.ids import RandomIds
from core.operator.audit import Audit
from core.operator.errors import ConflictError, NotFoundError, NotReadyError, OperatorError
from core.operator.keys import Caller
from core.ports import AgentStore, Clock, IdSource, Inbox
from core.records import OPERATOR_OUTCOMES, AgentState, OperatorOutcome

log = logging.getLogger(__name__)

SubmitAndWait = Callable[[Event], Awaitable[bool]]


class ChangeApplier:
    """The worker's side: apply one change to the stored state (run by the agent's worker,
    holding its lease, between turns)."""

    def __init__(
        self,
        agents: AgentStore,
        *,
        fence: Callable[[str], None] = lambda agent_key: None,
        forget: Callable[[str], None] = lambda agent_key: None,
    ) -> None:
        self.agents = agents
        self.fence = fence
        self.forget = forget

    async def apply(self, event: OperatorChangeRequested) -> OperatorOutcome | None:
        """Apply ``event``'s change; None if the agent does not exist (any more)."""
        key = event.agent_key
        state = await self.agents.load(key)
        if state is None:
            return None
        for done in state.operator_outcomes:
            if done.event_id == event.event_id:
                return done  # a replay: applied (or refused) already
        changed, outcome = _change(state, event)
        updated = changed.model_copy(
            update={"operator_outcomes": (*state.operator_outcomes, outcome)[-OPERATOR_OUTCOMES:]}
        )
        self.fence(key)
        await self.agents.save(updated, state.version)
        self.forget(key)  # the runtime reloads the state before the agent's next turn
        log.info(
            "operator %s (key %s): %s %s",
            event.key_name,
            event.key_id,
            event.change.kind,
            outcome.status,
            extra={"agent_key": key, "event_id": event.event_id},
        )
        return outcome


def _change(
    state: AgentState, event: OperatorChangeRequested
) -> tuple[AgentState, OperatorOutcome]:
    change = event.change
    match change:
        case SetDailyBudget():
            budget = change.tokens
            said = f"{budget:,} tokens a day" if budget else "the global budget"
            return (
                state.model_copy(update={"daily_token_budget": budget}),
                OperatorOutcome(event_id=event.event_id, status="applied", message=said),
            )


class ChangeRequests:
    """The API's side: record a change for an agent and wait for its worker's outcome."""

    def __init__(
        self,
        *,
        agents: AgentStore,
        inbox: Inbox,
        clock: Clock,
        submit_and_wait: SubmitAndWait,
        audit: Audit,
        wait_seconds: float = 30.0,
        ids: IdSource | None = None,
    ) -> None:
        self.ids = ids or RandomIds()
        self.agents = agents
        self.audit = audit
        self.inbox = inbox
        self.clock = clock
        self.submit_and_wait = submit_and_wait
        self.wait_seconds = wait_seconds

    async def request(
        self, caller: Caller, agent_key: str, change: OperatorChange
    ) -> tuple[OperatorOutcome, AgentState]:
        """The outcome and the state right after it. Raises ``NotFoundError`` for an unknown
        agent, ``ConflictError`` for a refused change, ``NotReadyError`` while the change is
        still queued (it stays queued and is applied in order)."""
        caller.require_admin()
        if await self.agents.load(agent_key) is None:
            raise NotFoundError(f"there is no agent {agent_key!r}")
        event = OperatorChangeRequested(
            event_id=f"operator:{self.ids.new_id()}",
            agent_key=agent_key,
            occurred_at=self.clock.now(),
            change=change,
            key_id=caller.key_id,
            key_name=caller.name,
        )
        try:
            async with asyncio.timeout(self.wait_seconds):
                await self.submit_and_wait(event)
        except TimeoutError:
            raise NotReadyError(
                f"the change is queued behind the agent's turn under way (still running after "
                f"{self.wait_seconds:.0f} s); it is applied when that turn ends",
                event_id=event.event_id,
            ) from None
        state = await self.agents.load(agent_key)
        if state is None:
            raise NotFoundError(f"the agent {agent_key!r} was erased meanwhile")
        outcome = next((o for o in state.operator_outcomes if o.event_id == event.event_id), None)
        if outcome is None:
            for failed in await self.inbox.failed(agent_key):
                if failed.event.event_id == event.event_id:
                    raise OperatorError(f"the change failed: {failed.error}")
            raise NotReadyError(
                "the change is queued: this process is stopping, and it is applied by the "
                "next worker to run the agent",
                event_id=event.event_id,
            )
        if outcome.status == "refused":
            raise ConflictError(outcome.message, current=outcome.current)
        await self.audit.record(
            caller, f"agents.{change.kind}", agent=agent_key, summary=outcome.message
        )
        return outcome, state
