"""One event's turn: what it gathers while it runs (``Turn``) and what it comes to
(``TurnOutcome``, what the dispatcher gets back)."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.events import Event, SendReply
from core.messages import StepTrace
from core.ports.model import Usage
from core.records import TokenUsage


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    event_id: str
    steps: int
    replies: tuple[SendReply, ...] = ()
    error: str | None = None  # the failure the person was told about, for the record
    replayed: bool = False
    tokens: int = 0  # prompt + completion tokens this event cost
    skipped: bool = False  # declined before any model call (budget, recent activity)


@dataclass
class Turn:
    """What one event's processing has gathered that is not stored yet."""

    event: Event
    usage: TokenUsage = field(default_factory=TokenUsage)  # reset as it is stored
    spent: int = 0  # tokens over the whole event
    warned: bool = False  # a memory-pressure alert was added since the last flush
    replies: list[SendReply] = field(default_factory=list)
    trace: StepTrace | None = None  # the last model call's, for the answer it produced
    failed_calls: list[StepTrace] = field(default_factory=list)  # stored with the next step

    def count(self, usage: Usage) -> None:
        """One model call's tokens: stored with the next step, and counted for the event."""
        self.usage = self.usage.plus(
            TokenUsage(
                calls=1,
                prompt_tokens=usage.prompt_tokens,
                cached_tokens=usage.cached_tokens,
                completion_tokens=usage.completion_tokens,
            )
        )
        self.spent += usage.prompt_tokens + usage.completion_tokens

    def outcome(self, steps: int, *, error: str | None = None) -> TurnOutcome:
        return TurnOutcome(
            self.event.event_id, steps, tuple(self.replies), error=error, tokens=self.spent
        )
