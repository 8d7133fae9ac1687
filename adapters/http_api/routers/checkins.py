"""An agent's check-ins: list, create, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from adapters.http_api import translate
from adapters.http_api.auth import Admin, Services, Viewer
from core.operator.paging import DEFAULT_LIMIT, MAX_LIMIT
from pagemind_client import models as wire

router = APIRouter(prefix="/api/agents/{agent_key}/checkins", tags=["check-ins"])


@router.get("", summary="The agent's active check-ins (viewer)")
async def list_checkins(
    agent_key: str,
    who: Viewer,
    ops: Services,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.Page[wire.Checkin]:
    return translate.checkins(await ops.checkins.page(agent_key, cursor=cursor, limit=limit))


@router.post("", status_code=201, summary="Schedule a check-in (admin)")
async def create_checkin(
    agent_key: str, body: wire.CheckinCreate, who: Admin, ops: Services
) -> wire.Checkin:
    checkin = await ops.checkins.create(
        who, agent_key, body.note, at=body.at, every=body.every, cron=body.cron
    )
    return translate.checkin(checkin)


@router.delete("/{checkin_id}", summary="Cancel a check-in (admin)")
async def cancel_checkin(
    agent_key: str, checkin_id: str, who: Admin, ops: Services
) -> wire.Deleted:
    await ops.checkins.cancel(who, agent_key, checkin_id)
    return wire.Deleted(deleted=1)
