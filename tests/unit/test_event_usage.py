"""What each event's turn cost, kept in the agent's state for whoever waits on that event
(the OpenAI-compatible endpoint's ``usage``): summed over the turn's steps, the last few
events only."""

from __future__ import annotations

from datetime import UTC, datetime

from core.context.memory import WorkingContext
from core.records import EVENT_USAGES, AgentState, TokenUsage

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def test_an_events_steps_add_up_and_only_the_last_events_are_kept() -> None:
    state = AgentState(
        agent_key="openai:user:ana", memory=WorkingContext(), created_at=NOW, updated_at=NOW
    )
    step = TokenUsage(calls=1, prompt_tokens=100, cached_tokens=40, completion_tokens=7)
    state = state.with_event_usage("e1", step).with_event_usage("e1", step)
    assert state.usage_of("e1") == TokenUsage(
        calls=2, prompt_tokens=200, cached_tokens=80, completion_tokens=14
    )
    assert state.usage_of("e2") is None
    for n in range(2, EVENT_USAGES + 2):
        state = state.with_event_usage(f"e{n}", step)
    assert len(state.event_usage) == EVENT_USAGES
    assert state.usage_of("e1") is None and state.usage_of(f"e{EVENT_USAGES + 1}") == step
    again = AgentState.model_validate_json(state.model_dump_json())  # as a store keeps it
    assert again.usage_of("e2") == step
