"""The audit log: every operator write, newest first (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from adapters.http_api import translate
from adapters.http_api.auth import Admin, Services
from core.operator.paging import DEFAULT_LIMIT, MAX_LIMIT
from pagemind_client import models as wire

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", summary="Operator writes, newest first (admin)")
async def list_audit(
    who: Admin,
    ops: Services,
    agent: Annotated[str | None, Query(description="only this agent's")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.Page[wire.AuditEntry]:
    return translate.audit(await ops.audit.page(cursor=cursor, limit=limit, agent=agent))
