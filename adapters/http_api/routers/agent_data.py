"""Export and erase of one agent: every tier in one document, or all of it gone."""

from __future__ import annotations

from fastapi import APIRouter

from adapters.http_api.auth import Admin, Services, Viewer
from pagemind_client import models as wire

router = APIRouter(prefix="/api/agents/{agent_key}", tags=["agents"])


@router.get("/export", summary="Everything the agent holds, every tier (viewer)")
async def export(agent_key: str, who: Viewer, ops: Services) -> wire.AgentExport:
    """The same document as the person's ``/export``: state and working context, every
    message, every passage and its sources, check-ins, upload jobs, queued and failed
    events, and the edit history of the blocks."""
    data = await ops.data().export(agent_key)
    return wire.AgentExport.model_validate(data.model_dump(mode="json"))


@router.delete("", summary="Erase the agent, every tier (admin)")
async def erase(agent_key: str, who: Admin, ops: Services) -> wire.AgentErased:
    """Its messages, passages and files, check-ins, upload jobs, queued events, the edit
    history of its blocks and its state; audited. Afterwards every read of it is a 404. A
    person who writes again starts a new agent."""
    gone = await ops.data().erase(who, agent_key)
    return wire.AgentErased(
        agent=agent_key,
        messages=gone.messages,
        passages=gone.passages,
        checkins=gone.checkins,
        upload_jobs=gone.upload_jobs,
        memory_edits=gone.memory_edits,
    )
