"""An agent's main context held in memory between calls, kept in step with its stores.

Rendering and counting a message happens once, when it enters the FIFO queue; each call then
only concatenates. This is what keeps the core's own cost per LLM call flat as a conversation
grows. Messages of the step in progress are appended at once and either committed with the
step or rolled back.

Messages not yet written to recall storage (``unfiled``) are tracked apart from the FIFO
queue: new messages start unfiled, a recall write files them all, and those of a committed
step travel in the agent state until then (``AgentState.unfiled``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from core.clock import zone
from core.context.layout import PromptLayout
from core.context.memory import WorkingContext
from core.messages import Message
from core.ports.model import PromptMessage
from core.records import AgentState


class AgentSession:
    def __init__(self, state: AgentState, fifo: Sequence[Message], layout: PromptLayout) -> None:
        self.layout = layout
        self.state = state
        self.tz: ZoneInfo = zone(state.timezone)
        self.fifo: list[Message] = []
        self.rendered: list[PromptMessage] = []
        self.tokens: list[int] = []
        self.fifo_tokens = 0
        self._system_for: tuple[WorkingContext, str] | None = None
        self._system: tuple[PromptMessage, int] = (PromptMessage("system", ""), 0)
        self._system_parts = (0, 0)
        if state.unfiled:  # the last step's messages, not in recall storage yet
            stored = {m.seq for m in fifo}
            carried = [
                m for m in state.unfiled if m.seq not in stored and m.seq > state.summary_upto_seq
            ]
            fifo = sorted([*fifo, *carried], key=lambda m: m.seq)
        self._extend(fifo)
        self.committed = len(self.fifo)
        self.unfiled: list[Message] = list(state.unfiled)
        # The stored last step's replies, until this process has sent them.
        self.outbox_unsent = False

    @property
    def next_seq(self) -> int:
        return (self.fifo[-1].seq if self.fifo else self.state.last_seq) + 1

    @property
    def uncommitted(self) -> list[Message]:
        return self.fifo[self.committed :]

    def alert(self, text: str, at: datetime, event_id: str) -> Message:
        """A note from Pagemind to the agent, numbered next (not added yet)."""
        return Message(
            seq=self.next_seq,
            role="user",
            kind="system_alert",
            content=text,
            created_at=at,
            event_id=event_id,
        )

    def add(self, messages: Sequence[Message]) -> None:
        """New messages: in the FIFO queue at once, in recall once they are filed."""
        self._extend(messages)
        self.unfiled.extend(messages)

    def filed(self) -> None:
        """Everything unfiled has been written to recall storage."""
        self.unfiled.clear()

    def unfiled_upto(self, seq: int) -> tuple[Message, ...]:
        """The unfiled messages a state with ``last_seq == seq`` must carry."""
        return tuple(m for m in self.unfiled if m.seq <= seq)

    def _extend(self, messages: Sequence[Message]) -> None:
        for message in messages:
            rendered = self.layout.render(message, self.tz)
            n = self.layout.count(rendered)
            self.fifo.append(message)
            self.rendered.append(rendered)
            self.tokens.append(n)
            self.fifo_tokens += n

    def commit(self, state: AgentState) -> None:
        self.state = state
        self.committed = len(self.fifo)

    def set_state(self, state: AgentState) -> None:
        """A new stored state that does not commit the step in progress (after a flush)."""
        self.state = state

    def rollback(self) -> None:
        """Forget the messages of a step that was not stored."""
        self._truncate(self.committed)
        self.unfiled = list(self.unfiled_upto(self.state.last_seq))

    def drop_oldest(self, count: int) -> None:
        """Take the ``count`` oldest messages out of view (they stay in recall storage)."""
        self.fifo_tokens -= sum(self.tokens[:count])
        del self.fifo[:count], self.rendered[:count], self.tokens[:count]
        self.committed -= count

    def system(self) -> tuple[PromptMessage, int]:
        """The system message and what it adds to the fixed token count, recomputed only when
        the working context or the summary change."""
        memory, summary = self.state.prompt_memory, self.state.summary
        cached = self._system_for
        if cached is None or cached[0] is not memory or cached[1] is not summary:
            parts = (self.layout.memory_tokens(memory), self.layout.summary_tokens(summary))
            self._system = (self.layout.system_message(memory, summary), sum(parts))
            self._system_parts = parts
            self._system_for = (memory, summary)
        return self._system

    def system_parts(self) -> tuple[int, int]:
        """The system message's working-context and summary tokens (as ``system`` counts)."""
        self.system()
        return self._system_parts

    def prompt_tokens(self) -> int:
        """Estimated prompt size, before the provider's correction factor."""
        return self.layout.fixed_tokens + self.system()[1] + self.fifo_tokens

    def messages(self) -> tuple[PromptMessage, ...]:
        return (self.system()[0], *self.rendered)

    def _truncate(self, length: int) -> None:
        self.fifo_tokens -= sum(self.tokens[length:])
        del self.fifo[length:], self.rendered[length:], self.tokens[length:]
