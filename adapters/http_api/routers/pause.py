"""Pause and resume an agent. A paused agent records every message and calls no model; the
person is told once per pause. Both go through the agent's inbox, in order with its
messages, on whichever replica runs it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from adapters.http_api import translate
from adapters.http_api.auth import Admin, Services
from core.events import OperatorChange, PauseAgent, ResumeAgent
from core.operator.keys import Caller
from core.operator.services import OperatorServices
from pagemind_client import models as wire

router = APIRouter(prefix="/api/agents/{agent_key}", tags=["agents"])
QUEUED: dict[int | str, dict[str, Any]] = {
    202: {"model": wire.ErrorBody, "description": "queued, not applied yet"}
}


async def _change(
    ops: OperatorServices, who: Caller, agent_key: str, change: OperatorChange
) -> wire.AgentDetail:
    await ops.changes.request(who, agent_key, change)
    return translate.detail(await ops.agents.get(agent_key, ops.today()))


@router.post("/pause", summary="Pause the agent (admin)", responses=QUEUED)
async def pause(agent_key: str, who: Admin, ops: Services) -> wire.AgentDetail:
    """From its next event the agent records messages without calling the model, and tells
    the person once that it is paused; check-ins are skipped. Pausing a paused agent
    changes nothing."""
    return await _change(ops, who, agent_key, PauseAgent())


@router.post("/resume", summary="Resume a paused agent (admin)", responses=QUEUED)
async def resume(agent_key: str, who: Admin, ops: Services) -> wire.AgentDetail:
    """The agent answers again from its next message (what came while it was paused is in
    its context and recall)."""
    return await _change(ops, who, agent_key, ResumeAgent())
