"""An agent's messages: list them (by role, dates, words), send one as a person."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from adapters.http_api import insight_wire
from adapters.http_api.auth import Admin, Services, Viewer
from core.operator.conversation import TurnDone, TurnStep
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


@router.post(
    "/messages",
    summary="Send a message as a person and get the agent's replies (admin)",
    response_model=wire.MessageSent,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "with stream: one server-sent event per step (thought, "
            "function_call, function_result, reply), then done",
        },
        409: {"model": wire.ErrorBody, "description": "Idempotency-Key used for another message"},
    },
)
async def send_message(
    agent_key: str,
    body: wire.MessageSend,
    who: Admin,
    ops: Services,
    stream: Annotated[bool, Query(description="server-sent events, one per step")] = False,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="the same key again (from the same API key) is the same message: "
            "sent once, the retry gets the first turn's steps and replies",
        ),
    ] = None,
) -> Any:
    """The message goes through the agent's inbox like a platform's (its worker runs the
    turn, on whichever replica owns it); the answer comes once the turn is done. The
    agent's replies also go to its home conversation, if it has one. Send an
    ``Idempotency-Key`` to make a retry safe (after a timeout or a dropped connection)."""
    talk = ops.insight.conversations
    outgoing = await talk.start(
        who,
        agent_key,
        body.text,
        user_id=body.user_id,
        user_name=body.user_name,
        idempotency_key=idempotency_key,
    )
    if stream or body.stream:
        return StreamingResponse(
            _events(talk.run(outgoing)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    steps: list[wire.TurnStep] = [insight_wire.step(s) async for s in talk.run(outgoing)]
    done = steps.pop()
    assert isinstance(done, wire.DoneStep)
    return wire.MessageSent(
        event_id=done.event_id,
        replies=done.replies,
        error=done.error,
        steps=[s for s in steps if not isinstance(s, wire.DoneStep)],
    )


async def _events(steps: AsyncIterator[TurnStep | TurnDone]) -> AsyncIterator[bytes]:
    async for s in steps:
        event = insight_wire.step(s)
        yield f"event: {event.kind}\ndata: {event.model_dump_json()}\n\n".encode()


@router.get("/turns", summary="The agent's past turns, newest first (viewer)")
async def list_turns(
    agent_key: str,
    who: Viewer,
    ops: Services,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> wire.Page[wire.TurnSummary]:
    page = await ops.insight.traces.page(agent_key, cursor=cursor, limit=limit)
    return insight_wire.turns(page)


@router.get("/turns/{turn_id}", summary='One turn\'s trace: "why did it say that" (viewer)')
async def get_turn(agent_key: str, turn_id: str, who: Viewer, ops: Services) -> wire.TurnTrace:
    """For each model call: the exact request it was sent (rebuilt from stored data), our
    token count by part, the provider's usage and the latency, its thoughts and function
    calls with arguments, results, durations and search hits with scores; failed calls
    too."""
    return insight_wire.turn(await ops.insight.traces.get(agent_key, turn_id))
