"""Agents: the directory with filters, one agent, its usage and daily budget."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from adapters.http_api import translate
from adapters.http_api.auth import Admin, Services, Viewer
from core.events import SetDailyBudget
from core.operator.agents import AgentFilter
from core.operator.paging import DEFAULT_LIMIT, MAX_LIMIT
from core.operator.usage import usage_report
from pagemind_client import models as wire

router = APIRouter(prefix="/api/agents", tags=["agents"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]


@router.get("", summary="List agents (viewer)")
async def list_agents(
    who: Viewer,
    ops: Services,
    platform: Annotated[str | None, Query(description="telegram, slack, discord, console")] = None,
    scope: Annotated[str | None, Query(pattern="^(user|channel|thread)$")] = None,
    person: Annotated[
        str | None,
        Query(
            description="a person's platform id: their own agent and group agents "
            "holding their block (Slack: TEAM:USER)"
        ),
    ] = None,
    active_since: Annotated[datetime | None, Query(description="last active at or after")] = None,
    active_before: Annotated[datetime | None, Query(description="last active before")] = None,
    paused: Annotated[bool | None, Query(description="true: paused agents; false: others")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> wire.Page[wire.AgentSummary]:
    query = AgentFilter(platform, scope, person, active_since, active_before, paused)
    page = await ops.agents.page(query, cursor=cursor, limit=limit, today=ops.today())
    return translate.agents(page)


@router.get("/{agent_key}", summary="One agent (viewer)")
async def get_agent(agent_key: str, who: Viewer, ops: Services) -> wire.AgentDetail:
    return translate.detail(await ops.agents.get(agent_key, ops.today()))


async def _usage(
    ops: Services, agent_key: str, since: date | None = None, until: date | None = None
) -> wire.Usage:
    state = await ops.agents.state(agent_key)
    pricing = ops.pricing
    report = usage_report(
        state,
        model=pricing.model,
        prices=pricing.prices,
        global_budget=pricing.global_budget,
        since=since,
        until=until,
    )
    return translate.usage(report)


@router.get("/{agent_key}/usage", summary="Tokens and cost per UTC day (viewer)")
async def get_usage(
    agent_key: str,
    who: Viewer,
    ops: Services,
    since: Annotated[date | None, Query(description="first day, YYYY-MM-DD")] = None,
    until: Annotated[date | None, Query(description="last day, YYYY-MM-DD")] = None,
) -> wire.Usage:
    return await _usage(ops, agent_key, since, until)


@router.put(
    "/{agent_key}/budget",
    summary="Set the agent's own daily token budget (admin)",
    responses={202: {"model": wire.ErrorBody, "description": "queued, not applied yet"}},
)
async def set_budget(
    agent_key: str, body: wire.BudgetUpdate, who: Admin, ops: Services
) -> wire.Usage:
    """Applied by the agent's worker, in order with its messages (through its inbox), on
    whichever replica runs it; the answer comes once it is applied."""
    change = SetDailyBudget(tokens=body.daily_token_budget)
    await ops.changes.request(who, agent_key, change)
    return await _usage(ops, agent_key)
