"""Working-context blocks: read them, edit one (with the version it was read at), and
read a block's edit history (who changed it, from what to what). Revert = edit back to a
``before`` or ``after`` text from the history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from adapters.http_api.auth import Admin, Services, Viewer
from core.context.edits import MemoryEdit
from core.context.memory import MemoryBlock
from core.operator.paging import DEFAULT_LIMIT, MAX_LIMIT
from pagemind_client import models as wire

router = APIRouter(prefix="/api/agents/{agent_key}/memory", tags=["memory"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]


def block(b: MemoryBlock) -> wire.MemoryBlock:
    return wire.MemoryBlock(
        label=b.label, value=b.value, limit=b.limit, title=b.title, version=b.version
    )


def edit(e: MemoryEdit) -> wire.BlockEdit:
    by = wire.Editor(kind=e.by.kind, id=e.by.id, name=e.by.name)
    return wire.BlockEdit(version=e.version, before=e.before, after=e.after, by=by, at=e.at)


@router.get("", summary="The working-context blocks (viewer)")
async def get_blocks(agent_key: str, who: Viewer, ops: Services) -> wire.MemoryBlocks:
    return wire.MemoryBlocks(blocks=[block(b) for b in await ops.blocks().blocks(agent_key)])


@router.put(
    "/{label}",
    summary="Set a block's text (admin)",
    responses={
        409: {"model": wire.ErrorBody, "description": "the block changed: error.block is it now"},
        202: {"model": wire.ErrorBody, "description": "queued, not applied yet"},
    },
)
async def put_block(
    agent_key: str, label: str, body: wire.BlockUpdate, who: Admin, ops: Services
) -> wire.MemoryBlock:
    """Name the ``version`` the edit starts from (as read): if the block changed since (the
    agent or another operator edited it), nothing changes and the answer is 409 with the
    block as it is now. Limits are those of the agent's own functions. Applied by the
    agent's worker, in order with its messages, on whichever replica runs it."""
    edited = await ops.blocks().edit(who, agent_key, label, body.value, body.version)
    return block(edited)


@router.get("/{label}/history", summary="A block's edits, newest first (viewer)")
async def get_history(
    agent_key: str,
    label: str,
    who: Viewer,
    ops: Services,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> wire.Page[wire.BlockEdit]:
    page = await ops.blocks().history(agent_key, label, cursor=cursor, limit=limit)
    return wire.Page[wire.BlockEdit](
        items=[edit(e) for e in page.items], next_cursor=page.next_cursor
    )
