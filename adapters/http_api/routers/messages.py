"""An agent's messages: list them (by role, dates, words), send one as a person."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from adapters.http_api import insight_wire
from adapters.http_api.auth import Services, Viewer
from core.operator.messages import MessageFilter
from core.operator.paging import DEFAULT_LIMIT, MAX_LIMIT
from pagemind_client import models as wire

router = APIRouter(prefix="/api/agents/{agent_key}", tags=["messages"])


@router.get("/messages", summary="The agent's messages, newest first (viewer)")
async def list_messages(
    agent_key: str,
    who: Viewer,
    ops: Services,
    role: Annotated[wire.MessageRole | None, Query(description="only this role's")] = None,
    since: Annotated[datetime | None, Query(description="at or after")] = None,
    until: Annotated[datetime | None, Query(description="before")] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=2000,
            description="words: the agent's own recall search over what was said",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> wire.Page[wire.AgentMessage]:
    query = MessageFilter(role=role, since=since, until=until, q=q)
    page = await ops.insight.messages.page(agent_key, query, cursor=cursor, limit=limit)
    return insight_wire.messages(page)


@router.get("/context", summary="The context window as the next call would send it (viewer)")
async def context_window(agent_key: str, who: Viewer, ops: Services) -> wire.ContextWindow:
    """Tokens per part, counted with the agent's own layout code: instructions, function
    schemas, working context, summary (with its text and the messages it covers), each
    message in view, the reply's reserve, what is free, and the warning and flush lines."""
    return insight_wire.context(await ops.insight.context.window(agent_key))
