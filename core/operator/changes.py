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

from core.context.edits import Editor, MemoryEdit, edits_between
from core.context.memory import WorkingContext
from core.errors import ToolError
from core.events import (
    EditMemoryBlock,
    Event,
    ForgetBlock,
    OperatorChange,
    OperatorChangeRequested,
    PauseAgent,
    ResumeAgent,
    SetDailyBudget,
)
from core.ids import RandomIds
from core.operator.audit import Audit
from core.operator.errors import ConflictError, NotFoundError, NotReadyError, OperatorError
from core.operator.keys import Caller
from core.operator.ports import MemoryEditStore
from core.ports import AgentStore, Clock, IdSource, Inbox, RecallStore
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
        edits: MemoryEditStore | None = None,
        recall: RecallStore | None = None,
    ) -> None:
        self.agents = agents
        self.edits = edits
        self.recall = recall
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
        edits = _edits(state, changed, event)
        if edits and self.edits is not None:
            await self.edits.record(edits)  # replaced, not repeated, if the save fails
        if isinstance(event.change, ForgetBlock) and self.edits is not None:
            await self.edits.erase(key, event.change.label)  # again, if the save fails
        author = event.change.author_id if isinstance(event.change, ForgetBlock) else None
        if author is not None and self.recall is not None:
            # what they wrote, filed in recall (the state's carried step, in the save)
            await self.recall.forget_author(key, author)  # again, if the save fails
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


def _edits(
    before: AgentState, after: AgentState, event: OperatorChangeRequested
) -> tuple[MemoryEdit, ...]:
    if after.memory is before.memory:
        return ()
    by = Editor(kind="operator", id=event.key_id, name=event.key_name)
    return edits_between(before.agent_key, before.memory, after.memory, by, event.occurred_at)


def _forget_block(state: AgentState, change: ForgetBlock) -> AgentState:
    def without(memory: WorkingContext) -> WorkingContext:
        kept = tuple(b for b in memory.blocks if b.label != change.label)
        return memory.model_copy(update={"blocks": kept})

    shown = state.shown_memory
    author = change.author_id
    return state.model_copy(
        update={
            "memory": without(state.memory),
            "shown_memory": without(shown) if shown is not None else None,
            "unfiled": tuple(m for m in state.unfiled if author is None or m.author_id != author),
        }
    )


def _applied(event: OperatorChangeRequested, message: str) -> OperatorOutcome:
    return OperatorOutcome(event_id=event.event_id, status="applied", message=message)


def _refused(
    event: OperatorChangeRequested, message: str, current: int | None = None
) -> tuple[None, OperatorOutcome]:
    return None, OperatorOutcome(
        event_id=event.event_id, status="refused", message=message, current=current
    )


def _edit_memory(
    state: AgentState, event: OperatorChangeRequested, change: EditMemoryBlock
) -> tuple[AgentState | None, OperatorOutcome]:
    label = change.label
    block = next((b for b in state.memory.blocks if b.label == label), None)
    if block is None:
        return _refused(event, f"the agent has no block {label!r} any more")
    if block.version != change.expected_version:
        return _refused(
            event,
            f"block {label!r} is at version {block.version}, not "
            f"{change.expected_version}: it changed since it was read",
            block.version,
        )
    try:
        memory = state.memory.set(label, change.value)
    except ToolError as exc:
        return _refused(event, str(exc), block.version)
    version = memory.block(label).version
    said = f"{label}: version {version} ({len(change.value):,}/{block.limit:,} characters)"
    if memory is state.memory:
        said = f"{label}: unchanged at version {version}"
    return (
        # shown whole in the system message from the next call (no function result shows it)
        state.model_copy(update={"memory": memory, "shown_memory": None}),
        OperatorOutcome(event_id=event.event_id, status="applied", message=said, current=version),
    )


def _change(
    state: AgentState, event: OperatorChangeRequested
) -> tuple[AgentState, OperatorOutcome]:
    change = event.change
    match change:
        case EditMemoryBlock():
            changed, outcome = _edit_memory(state, event, change)
            return (changed or state), outcome
        case PauseAgent():
            if state.paused_at is not None:
                return state, _applied(
                    event, f"paused already, since {state.paused_at:%Y-%m-%d %H:%M} UTC"
                )
            update = {"paused_at": event.occurred_at, "pause_notice_sent": False}
            return state.model_copy(update=update), _applied(event, "paused")
        case ForgetBlock():
            said = f"{change.label} removed" + (" with their messages" if change.author_id else "")
            return _forget_block(state, change), _applied(event, said)
        case ResumeAgent():
            if state.paused_at is None:
                return state, _applied(event, "not paused")
            update = {"paused_at": None, "pause_notice_sent": False}
            return state.model_copy(update=update), _applied(event, "resumed")
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
