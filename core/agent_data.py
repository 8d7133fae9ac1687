"""Everything one agent holds, exported as one document, or erased, across every tier."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from core.checkins import Checkin, CheckinStore
from core.events import Event
from core.messages import Message
from core.ports import AgentStore, ArchivalStore, Inbox, RecallStore
from core.records import AgentState, Passage


class AgentExport(BaseModel):
    """An agent's data: working context and summary (``state``), every message (recall),
    every passage (archival, without its embedding) and events not yet processed."""

    format: Literal["pagemind-agent-export"] = "pagemind-agent-export"
    format_version: int = 1
    agent_key: str
    exported_at: datetime
    state: AgentState | None
    messages: list[Message]
    passages: list[Passage]
    pending_events: list[Event]
    checkins: list[Checkin] = []


async def export_agent(
    agent_key: str,
    *,
    agents: AgentStore,
    recall: RecallStore,
    archival: ArchivalStore,
    inbox: Inbox,
    now: datetime,
    checkins: CheckinStore | None = None,
) -> AgentExport:
    state = await agents.load(agent_key)
    messages = await recall.range(agent_key, 0, state.last_seq) if state else []
    passages = [p.model_copy(update={"embedding": None}) for p in await archival.all(agent_key)]
    return AgentExport(
        agent_key=agent_key,
        exported_at=now,
        state=state,
        messages=messages,
        passages=passages,
        pending_events=await inbox.pending(agent_key),
        checkins=await checkins.active(agent_key) if checkins else [],
    )


async def erase_agent(
    agent_key: str,
    *,
    agents: AgentStore,
    recall: RecallStore,
    archival: ArchivalStore,
    inbox: Inbox,
    checkins: CheckinStore | None = None,
) -> None:
    """Delete the agent's messages, passages, queued events, check-ins and state. The state
    goes last, so an interrupted erase can simply be run again."""
    if checkins is not None:
        await checkins.erase(agent_key)
    await recall.erase(agent_key)
    await archival.erase(agent_key)
    await inbox.erase(agent_key)
    await agents.erase(agent_key)
