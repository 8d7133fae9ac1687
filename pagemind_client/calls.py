"""Each API route as a ``Call``: what to send and what comes back. The sync and async
clients run the same calls, so they cannot differ in what they send or how they read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from pydantic import BaseModel

from pagemind_client import models as m

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class Call(Generic[R]):
    method: str
    path: str
    returns: type[R]
    params: dict[str, Any] = field(default_factory=dict)
    body: BaseModel | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def query(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in self.params.items():
            if value is None:
                continue
            if isinstance(value, datetime | date):
                out[name] = value.isoformat()
            else:
                out[name] = str(value)
        return out


def _agent(key: str) -> str:
    return f"/api/agents/{quote(key, safe=':@')}"


def _part(value: str) -> str:
    return quote(value, safe=":@")


def health() -> Call[m.Health]:
    return Call("GET", "/healthz", m.Health)


def me() -> Call[m.KeyIdentity]:
    return Call("GET", "/api/me", m.KeyIdentity)


def agents_page(
    *,
    platform: str | None = None,
    scope: str | None = None,
    person: str | None = None,
    active_since: datetime | None = None,
    active_before: datetime | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    paused: bool | None = None,
) -> Call[m.Page[m.AgentSummary]]:
    params = {
        "paused": None if paused is None else str(paused).lower(),
        "platform": platform,
        "scope": scope,
        "person": person,
        "active_since": active_since,
        "active_before": active_before,
        "limit": limit,
        "cursor": cursor,
    }
    return Call("GET", "/api/agents", m.Page[m.AgentSummary], params)


def agent(key: str) -> Call[m.AgentDetail]:
    return Call("GET", _agent(key), m.AgentDetail)


def usage(key: str, *, since: date | None = None, until: date | None = None) -> Call[m.Usage]:
    return Call("GET", f"{_agent(key)}/usage", m.Usage, {"since": since, "until": until})


def pause(key: str) -> Call[m.AgentDetail]:
    return Call("POST", f"{_agent(key)}/pause", m.AgentDetail)


def resume(key: str) -> Call[m.AgentDetail]:
    return Call("POST", f"{_agent(key)}/resume", m.AgentDetail)


def set_budget(key: str, tokens: int | None) -> Call[m.Usage]:
    body = m.BudgetUpdate(daily_token_budget=tokens)
    return Call("PUT", f"{_agent(key)}/budget", m.Usage, body=body)


def checkins_page(
    key: str, *, limit: int | None = None, cursor: str | None = None
) -> Call[m.Page[m.Checkin]]:
    params = {"limit": limit, "cursor": cursor}
    return Call("GET", f"{_agent(key)}/checkins", m.Page[m.Checkin], params)


def create_checkin(key: str, body: m.CheckinCreate) -> Call[m.Checkin]:
    return Call("POST", f"{_agent(key)}/checkins", m.Checkin, body=body)


def cancel_checkin(key: str, checkin_id: str) -> Call[m.Deleted]:
    return Call("DELETE", f"{_agent(key)}/checkins/{_part(checkin_id)}", m.Deleted)


def sources_page(
    key: str, *, limit: int | None = None, cursor: str | None = None
) -> Call[m.Page[m.ArchivalSource]]:
    params = {"limit": limit, "cursor": cursor}
    return Call("GET", f"{_agent(key)}/archival/sources", m.Page[m.ArchivalSource], params)


def search(
    key: str, text: str, *, limit: int | None = None, cursor: str | None = None
) -> Call[m.SearchResults]:
    params = {"q": text, "limit": limit, "cursor": cursor}
    return Call("GET", f"{_agent(key)}/archival/search", m.SearchResults, params)


def insert(key: str, text: str) -> Call[m.PassagesCreated]:
    body = m.PassageCreate(text=text)
    return Call("POST", f"{_agent(key)}/archival/passages", m.PassagesCreated, body=body)


def delete_passage(key: str, passage_id: str) -> Call[m.Deleted]:
    return Call("DELETE", f"{_agent(key)}/archival/passages/{_part(passage_id)}", m.Deleted)


def delete_source(key: str, document_id: str | None) -> Call[m.Deleted]:
    """``document_id`` None: every passage saved without a file."""
    target = _part(document_id) if document_id is not None else "own"
    return Call("DELETE", f"{_agent(key)}/archival/sources/{target}", m.Deleted)


def upload(key: str, filename: str, data: bytes, mime: str) -> Call[m.UploadJob]:
    files = {"file": (filename, data, mime)}
    return Call("POST", f"{_agent(key)}/archival/uploads", m.UploadJob, files=files)


def upload_job(key: str, job_id: str) -> Call[m.UploadJob]:
    return Call("GET", f"{_agent(key)}/archival/uploads/{_part(job_id)}", m.UploadJob)


def audit_page(
    *, agent: str | None = None, limit: int | None = None, cursor: str | None = None
) -> Call[m.Page[m.AuditEntry]]:
    params = {"agent": agent, "limit": limit, "cursor": cursor}
    return Call("GET", "/api/audit", m.Page[m.AuditEntry], params)


def messages_page(
    key: str,
    *,
    role: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    q: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Call[m.Page[m.AgentMessage]]:
    params = {"role": role, "since": since, "until": until, "q": q, "limit": limit}
    params["cursor"] = cursor
    return Call("GET", f"{_agent(key)}/messages", m.Page[m.AgentMessage], params)


def context(key: str) -> Call[m.ContextWindow]:
    return Call("GET", f"{_agent(key)}/context", m.ContextWindow)


def send_message(
    key: str, body: m.MessageSend, idempotency_key: str | None = None
) -> Call[m.MessageSent]:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
    return Call("POST", f"{_agent(key)}/messages", m.MessageSent, body=body, headers=headers)


def turns_page(
    key: str, *, limit: int | None = None, cursor: str | None = None
) -> Call[m.Page[m.TurnSummary]]:
    params = {"limit": limit, "cursor": cursor}
    return Call("GET", f"{_agent(key)}/turns", m.Page[m.TurnSummary], params)


def turn(key: str, turn_id: str) -> Call[m.TurnTrace]:
    return Call("GET", f"{_agent(key)}/turns/{_part(turn_id)}", m.TurnTrace)


def memory_blocks(key: str) -> Call[m.MemoryBlocks]:
    return Call("GET", f"{_agent(key)}/memory", m.MemoryBlocks)


def edit_block(key: str, label: str, value: str, version: int) -> Call[m.MemoryBlock]:
    body = m.BlockUpdate(value=value, version=version)
    return Call("PUT", f"{_agent(key)}/memory/{_part(label)}", m.MemoryBlock, body=body)


def block_history_page(
    key: str, label: str, *, limit: int | None = None, cursor: str | None = None
) -> Call[m.Page[m.BlockEdit]]:
    params = {"limit": limit, "cursor": cursor}
    path = f"{_agent(key)}/memory/{_part(label)}/history"
    return Call("GET", path, m.Page[m.BlockEdit], params)


def export(key: str) -> Call[m.AgentExport]:
    return Call("GET", f"{_agent(key)}/export", m.AgentExport)


def erase(key: str) -> Call[m.AgentErased]:
    return Call("DELETE", _agent(key), m.AgentErased)


def _person(platform: str, user_id: str) -> str:
    return f"/api/persons/{_part(platform)}/{_part(user_id)}"


def person(platform: str, user_id: str) -> Call[m.Person]:
    return Call("GET", _person(platform, user_id), m.Person)


def export_person(platform: str, user_id: str) -> Call[m.PersonExport]:
    return Call("GET", f"{_person(platform, user_id)}/export", m.PersonExport)


def erase_person(platform: str, user_id: str) -> Call[m.PersonErased]:
    return Call("DELETE", _person(platform, user_id), m.PersonErased)
