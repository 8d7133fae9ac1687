"""Tokens per agent and day, their cost at the operator's prices, and the daily budget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.records import AgentState, DayUsage

PER = 1_000_000  # prices are per million tokens


@dataclass(frozen=True, slots=True)
class Price:
    """What a million tokens cost (in the operator's currency): prompt tokens, the cached
    part of them (the prompt price when not given), completion tokens."""

    prompt: float
    completion: float
    cached_prompt: float | None = None

    def cost(self, day: DayUsage) -> float:
        cached = day.cached_tokens
        fresh = day.prompt_tokens - cached
        cached_price = self.prompt if self.cached_prompt is None else self.cached_prompt
        return (
            fresh * self.prompt + cached * cached_price + day.completion_tokens * self.completion
        ) / PER


@dataclass(frozen=True, slots=True)
class UsageReport:
    agent_key: str
    model: str
    price: Price | None  # None: no price configured for the model, no cost shown
    days: tuple[DayUsage, ...]  # oldest first, days with calls only
    budget: int | None  # in force today
    budget_override: int | None

    def cost(self, day: DayUsage) -> float | None:
        return self.price.cost(day) if self.price is not None else None


def usage_report(
    state: AgentState,
    *,
    model: str,
    prices: dict[str, Price],
    global_budget: int | None,
    since: date | None = None,
    until: date | None = None,
) -> UsageReport:
    """The agent's days between ``since`` and ``until`` (inclusive), as it keeps them."""
    days = tuple(
        d
        for d in state.usage_days
        if (since is None or d.day >= since.isoformat())
        and (until is None or d.day <= until.isoformat())
    )
    return UsageReport(
        agent_key=state.agent_key,
        model=model,
        price=prices.get(model),
        days=days,
        budget=state.daily_token_budget or global_budget,
        budget_override=state.daily_token_budget,
    )
