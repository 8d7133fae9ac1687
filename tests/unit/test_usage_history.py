"""Tokens per day kept in the agent's state, an agent's own daily budget, and operator
changes applied by the agent's worker exactly once."""

from __future__ import annotations

from datetime import UTC, datetime

from bots.storage import memory_storage
from core.context.memory import WorkingContext
from core.events import OperatorChangeRequested, SetDailyBudget
from core.operator.changes import ChangeApplier
from core.records import USAGE_HISTORY_DAYS, AgentState, TokenUsage
from tests.support.agents import Harness
from tests.support.scripted import ScriptedModel, say

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def test_a_state_stored_before_the_history_starts_it_with_the_day_it_kept() -> None:
    stored = {  # as MongoDB holds an agent saved by the previous version
        "agent_key": "telegram:user:1",
        "memory": {"blocks": []},
        "usage_day": "2026-11-20",
        "usage_today": {"calls": 3, "prompt_tokens": 900, "cached_tokens": 100,
                        "completion_tokens": 30},
        "usage_total": {"calls": 9, "prompt_tokens": 2000, "completion_tokens": 90},
        "created_at": NOW.isoformat(),
        "updated_at": NOW.isoformat(),
    }  # fmt: skip
    state = AgentState.model_validate(stored)
    (day,) = state.usage_days
    assert (day.day, day.calls, day.prompt_tokens, day.cached_tokens, day.completion_tokens) == (
        "2026-11-20", 3, 900, 100, 30,
    )  # fmt: skip
    assert state.daily_token_budget is None
    fresh = AgentState.model_validate({**stored, "usage_day": ""})
    assert fresh.usage_days == ()


def test_days_add_up_and_only_the_last_400_are_kept() -> None:
    state = AgentState(agent_key="a", memory=WorkingContext(), created_at=NOW, updated_at=NOW)
    one = TokenUsage(calls=1, prompt_tokens=10, cached_tokens=4, completion_tokens=2)
    state = state.with_usage(one, "2026-01-01").with_usage(one, "2026-01-01")
    assert state.usage_days[-1].calls == 2 and state.usage_days[-1].prompt_tokens == 20
    for n in range(USAGE_HISTORY_DAYS + 5):
        state = state.with_usage(one, f"day-{n:04d}")
    assert len(state.usage_days) == USAGE_HISTORY_DAYS
    assert state.usage_days[-1].day == f"day-{USAGE_HISTORY_DAYS + 4:04d}"
    assert state.usage_total.calls == USAGE_HISTORY_DAYS + 7
    back = AgentState.model_validate_json(state.model_dump_json())
    assert back.usage_days == state.usage_days


async def test_an_agents_own_budget_stops_the_model_with_no_global_budget() -> None:
    h = Harness(ScriptedModel([say("one"), say("two")]))  # each call: 110 tokens
    await h.send("hello")
    state = await h.agents.load("agent-1")
    assert state is not None
    await h.agents.save(state.model_copy(update={"daily_token_budget": 100}), state.version)
    h.runtime.forget("agent-1")
    outcome = await h.send("still there?")
    assert outcome.skipped and len(h.model.requests) == 1
    assert "conversation limit" in h.sink.texts[-1]


async def test_a_change_replayed_after_a_crash_is_applied_once() -> None:
    agents = memory_storage().agents
    await agents.save(
        AgentState(agent_key="a", memory=WorkingContext(), created_at=NOW, updated_at=NOW), None
    )
    forgotten: list[str] = []
    applier = ChangeApplier(agents, forget=forgotten.append)
    event = OperatorChangeRequested(
        event_id="operator:1", agent_key="a", occurred_at=NOW,
        change=SetDailyBudget(tokens=500), key_id="k1", key_name="ops",
    )  # fmt: skip
    first = await applier.apply(event)
    again = await applier.apply(event)
    state = await agents.load("a")
    assert state is not None and state.daily_token_budget == 500
    assert first == again and first is not None and first.status == "applied"
    assert state.version == 2, "the replay wrote nothing"
    assert state.updated_at == NOW, "an operator's change is not the agent's activity"
    assert forgotten == ["a"]
    assert await applier.apply(event.model_copy(update={"agent_key": "gone"})) is None
