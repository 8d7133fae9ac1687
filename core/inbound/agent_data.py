"""Everything one agent holds, exported as one document, or erased, across every tier."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from core.checkins.values import Checkin
from core.context.edits import MemoryEdit
from core.events import Event
from core.messages import Message
from core.operator.ports import MemoryEditStore
from core.operator.records import UploadJob
from core.ports import AgentStore, ArchivalStore, CheckinStore, Inbox, RecallStore
from core.records import AgentState, ArchivalSource, FailedEvent, Passage


class AgentExport(BaseModel):
    """An agent's data: working context and summary (``state``), every message (recall),
    every passage (archival, without its embedding), events not yet processed and events
    that failed (with the reason)."""

    format: Literal["pagemind-agent-export"] = "pagemind-agent-export"
    format_version: int = 1
    agent_key: str
    exported_at: datetime
    state: AgentState | None
    messages: list[Message]
    passages: list[Passage]
    pending_events: list[Event]
    failed_events: list[FailedEvent] = []
    checkins: list[Checkin] = []
    memory_edits: list[MemoryEdit] = []  # each change of a block, by label then version
    sources: list[ArchivalSource] = []  # where the passages came from (files, the agent)
    upload_jobs: list[UploadJob] = []  # files an operator uploaded, with how each went


async def export_agent(
    agent_key: str,
    *,
    agents: AgentStore,
    recall: RecallStore,
    archival: ArchivalStore,
    inbox: Inbox,
    now: datetime,
    checkins: CheckinStore | None = None,
    edits: MemoryEditStore | None = None,
) -> AgentExport:
    state = await agents.load(agent_key)
    messages = await logged_messages(state, recall) if state else []
    passages = [p.model_copy(update={"embedding": None}) for p in await archival.all(agent_key)]
    return AgentExport(
        agent_key=agent_key,
        exported_at=now,
        state=state,
        messages=messages,
        passages=passages,
        pending_events=await inbox.pending(agent_key),
        failed_events=await inbox.failed(agent_key),
        checkins=await checkins.active(agent_key) if checkins else [],
        memory_edits=await edits.all(agent_key) if edits else [],
    )


async def logged_messages(state: AgentState, recall: RecallStore) -> list[Message]:
    """Every message of the agent's log: those in recall storage, and those of the last step
    that the state still carries."""
    stored = await recall.range(state.agent_key, 0, state.last_seq)
    have = {m.seq for m in stored}
    carried = [m for m in state.unfiled if m.seq not in have]
    return sorted([*stored, *carried], key=lambda m: m.seq) if carried else stored


async def erase_agent(
    agent_key: str,
    *,
    agents: AgentStore,
    recall: RecallStore,
    archival: ArchivalStore,
    inbox: Inbox,
    checkins: CheckinStore | None = None,
    edits: MemoryEditStore | None = None,
) -> None:
    """Delete the agent's messages, passages, queued events, check-ins, the edit history of
    its blocks and its state. The state goes last, so an interrupted erase can simply be run
    again."""
    if checkins is not None:
        await checkins.erase(agent_key)
    if edits is not None:
        await edits.erase(agent_key)
    await recall.erase(agent_key)
    await archival.erase(agent_key)
    await inbox.erase(agent_key)
    await agents.erase(agent_key)
