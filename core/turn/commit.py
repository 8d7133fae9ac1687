"""Storing a step: its messages first, then the state that points past them.

A step's messages reach recall storage without ever being half-visible: the agent state that
points past them (``last_seq``) carries them (``AgentState.unfiled``), and the next recall
write files them, together with the next event's message, before the model is called. So a
plain message costs one recall write and one state write, and a crash at any point leaves
either the whole step or none of it (recall may hold the input of the event under way,
numbered past ``last_seq``: discarded when the agent is next loaded).

Every write for the agent is fenced: a worker that no longer safely holds the agent's lease
raises ``LeaseLostError`` instead of writing, and its step is redone by the lease's new owner.
"""

from __future__ import annotations

from core.checkins.service import CheckinService
from core.context.edits import MemoryEdit
from core.context.memory import WorkingContext
from core.errors import LeaseLostError
from core.events import SendReply, UserMessageReceived
from core.operator.ports import MemoryEditStore
from core.ports import AgentStore, Clock, Leases, RecallStore, TurnObserver
from core.records import FAILED_CALLS, AgentState, FailedCall, TokenUsage
from core.turn.outcome import Turn
from core.turn.session import AgentSession

RECENT_EVENTS = 128  # ids of the last events whose turns are stored, kept in the state


class StepCommit:
    def __init__(
        self,
        *,
        agents: AgentStore,
        recall: RecallStore,
        clock: Clock,
        leases: Leases,
        observer: TurnObserver | None = None,
        checkins: CheckinService | None = None,
        edits: MemoryEditStore | None = None,
    ) -> None:
        self.agents = agents
        self.edits = edits
        self.recall = recall
        self.clock = clock
        self.leases = leases
        self.observer = observer
        self.checkins = checkins

    def fence(self, agent_key: str) -> None:
        """Refuse to act for an agent whose lease this worker no longer safely holds."""
        if not self.leases.holds(agent_key):
            raise LeaseLostError(f"this worker no longer holds the lease of {agent_key!r}")

    async def file(self, session: AgentSession) -> None:
        """Write to recall whatever it does not have yet: the event's message (so it is kept
        whatever the model does) and the messages the last stored step carried."""
        if session.unfiled:
            key = session.state.agent_key
            self.fence(key)
            await self.recall.append(key, session.unfiled)
            session.filed()

    async def store(
        self,
        session: AgentSession,
        turn: Turn,
        memory: WorkingContext,
        *,
        chain_open: bool,
        outbox: tuple[SendReply, ...],
        edits: tuple[MemoryEdit, ...] = (),
    ) -> None:
        """Store the step: the state, pointing past its messages and carrying those recall
        does not have yet, with the replies it is about to send.

        A step that changed blocks first writes its ``edits`` to the history (one write; a
        step that changed none writes nothing there): if the state's save then fails, the
        step is redone and its edits, named by block and version, replace those written."""
        state = session.state
        pending = session.uncommitted
        event = turn.event
        spoke = isinstance(event, UserMessageReceived)
        home = event.reply_to if spoke and event.reply_to else state.home
        if state.home is None and home is not None and self.checkins is not None:
            # The agent has a conversation to write to from now on: the operator's default
            # check-in is made there before that is stored (so a failure is retried).
            await self.checkins.add_default(state.model_copy(update={"home": home}))
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
                    "failed_calls": _failed(state, turn),
                }
            ),
            turn,
        )
        self.fence(state.agent_key)
        if edits and self.edits is not None:
            await self.edits.record(edits)
        saved = await self.agents.save(updated, state.version)
        turn.failed_calls.clear()
        session.commit(saved)
        if self.observer is not None and pending:
            self.observer.step_stored(state.agent_key, pending)

    async def evict(self, session: AgentSession, turn: Turn, *, summary: str, count: int) -> None:
        """Store a flush: the new summary and the FIFO queue's new start, in one state
        update, then take the ``count`` oldest messages out of view."""
        state = session.state
        updated = self._stamp_usage(
            state.model_copy(
                update={
                    "summary": summary,
                    "summary_upto_seq": session.fifo[count - 1].seq,
                    "unfiled": session.unfiled_upto(state.last_seq),
                    "shown_memory": None,
                    "memory_warning_sent": False,
                    "updated_at": self.clock.now(),
                }
            ),
            turn,
        )
        self.fence(state.agent_key)
        saved = await self.agents.save(updated, state.version)
        session.drop_oldest(count)
        session.set_state(saved)

    async def show_current_memory(self, session: AgentSession) -> None:
        """Show the working context as it is now in the system message (when the provider's
        prompt cache has gone cold, this costs nothing extra)."""
        state = session.state
        refreshed = state.model_copy(update={"shown_memory": None})
        self.fence(state.agent_key)
        session.set_state(await self.agents.save(refreshed, state.version))

    def _stamp_usage(self, state: AgentState, turn: Turn) -> AgentState:
        if not turn.usage.calls:
            return state
        usage, turn.usage = turn.usage, TokenUsage()
        day = self.clock.now().date().isoformat()
        return state.with_usage(usage, day).with_event_usage(turn.event.event_id, usage)


def _remember(recent: tuple[str, ...], event_id: str) -> tuple[str, ...]:
    if recent and recent[-1] == event_id:
        return recent
    return (*recent, event_id)[-RECENT_EVENTS:]


def _failed(state: AgentState, turn: Turn) -> tuple[FailedCall, ...]:
    """The state's failed calls with the turn's new ones (the newest ``FAILED_CALLS``)."""
    if not turn.failed_calls:
        return state.failed_calls
    new = (FailedCall(event_id=turn.event.event_id, trace=t) for t in turn.failed_calls)
    return (*state.failed_calls, *new)[-FAILED_CALLS:]
