"""A person by their platform id: every agent that holds them, their export, their erase."""

from __future__ import annotations

from fastapi import APIRouter

from adapters.http_api import translate
from adapters.http_api.auth import Admin, Services, Viewer
from adapters.http_api.routers.memory import block, edit
from pagemind_client import models as wire

router = APIRouter(prefix="/api/persons/{platform}/{user_id}", tags=["persons"])


@router.get("", summary="Every agent that holds the person (viewer)")
async def get_person(platform: str, user_id: str, who: Viewer, ops: Services) -> wire.Person:
    """Their own agent and each group agent where they own a ``human:<id>`` block. 404 if
    no agent holds them. Slack ids are TEAM:USER."""
    found = await ops.people().holdings(platform, user_id, ops.today())
    agents = [wire.PersonAgent(agent=translate.summary(h.agent), block=h.label) for h in found]
    return wire.Person(platform=platform, user_id=user_id, agents=agents)


@router.get("/export", summary="Everything held about the person (viewer)")
async def export_person(
    platform: str, user_id: str, who: Viewer, ops: Services
) -> wire.PersonExport:
    """Their own agents whole (as ``/export``), and from each group agent their block, its
    edit history and the messages they wrote there."""
    data = await ops.people().export(platform, user_id, ops.today())
    return wire.PersonExport(
        platform=platform,
        user_id=user_id,
        exported_at=data.exported_at,
        agents=[wire.AgentExport.model_validate(a.model_dump(mode="json")) for a in data.own],
        groups=[
            wire.PersonGroupPart(
                agent=g.agent_key,
                block=block(g.block) if g.block is not None else None,
                memory_edits=[edit(e) for e in g.edits],
                messages=[m.model_dump(mode="json") for m in g.messages],
            )
            for g in data.groups
        ],
    )


@router.delete("", summary="Erase the person (admin)")
async def erase_person(platform: str, user_id: str, who: Admin, ops: Services) -> wire.PersonErased:
    """Their own agents erased, every tier; their block and its edit history removed from
    each group agent (through its inbox). Audited."""
    gone = await ops.people().erase(who, platform, user_id, ops.today())
    return wire.PersonErased(
        platform=platform,
        user_id=user_id,
        agents_erased=list(gone.agents),
        removed_from=list(gone.blocks),
    )
