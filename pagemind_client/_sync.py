"""``Pagemind``: the synchronous client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from pagemind_client import calls
from pagemind_client import models as m
from pagemind_client._http import (
    DEFAULT_TIMEOUT,
    StepEvents,
    headers,
    raise_for,
    read,
    request_args,
    settings,
)
from pagemind_client.errors import APIConnectionError

R = TypeVar("R", bound=BaseModel)
T = TypeVar("T", bound=BaseModel)


class Pagemind:
    """A client of a Pagemind operator API.

    ``Pagemind(base_url="http://127.0.0.1:8080", api_key="pm_...")``; both default to
    ``PAGEMIND_API_URL`` and ``PAGEMIND_API_KEY``. Listings are iterators that follow the
    cursors; errors are ``pagemind_client.errors.APIError`` subclasses with the server's
    message. Close it (or use ``with``) when done.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        url, key = settings(base_url, api_key)
        self._http = httpx.Client(
            base_url=url, headers=headers(key), timeout=timeout, transport=transport
        )
        self.agents = Agents(self)
        self.checkins = Checkins(self)
        self.archival = Archival(self)
        self.audit = Audit(self)
        self.messages = Messages(self)
        self.context = Context(self)
        self.turns = Turns(self)
        self.memory = Memory(self)
        self.persons = Persons(self)

    def call(self, call: calls.Call[R]) -> R:
        try:
            response = self._http.request(call.method, call.path, **request_args(call))
        except httpx.TransportError as exc:
            raise APIConnectionError(f"cannot reach {self._http.base_url}: {exc}") from exc
        return read(call, response)

    def pages(self, first: calls.Call[m.Page[T]]) -> Iterator[T]:
        call = first
        while True:
            page = self.call(call)
            yield from page.items
            if page.next_cursor is None:
                return
            call = calls.Call(
                call.method, call.path, call.returns, {**call.params, "cursor": page.next_cursor}
            )

    def health(self) -> m.Health:
        return self.call(calls.health())

    def me(self) -> m.KeyIdentity:
        """The key this client uses: its id, name and role (never the key)."""
        return self.call(calls.me())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Pagemind:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Agents:
    def __init__(self, client: Pagemind) -> None:
        self._client = client

    def list(
        self,
        *,
        platform: str | None = None,
        scope: str | None = None,
        person: str | None = None,
        active_since: datetime | None = None,
        active_before: datetime | None = None,
        page_size: int | None = None,
        paused: bool | None = None,
    ) -> Iterator[m.AgentSummary]:
        """Every agent that matches, page after page."""
        first = calls.agents_page(
            platform=platform,
            scope=scope,
            person=person,
            active_since=active_since,
            active_before=active_before,
            limit=page_size,
            paused=paused,
        )
        return self._client.pages(first)

    def page(
        self, *, limit: int | None = None, cursor: str | None = None, **filters: Any
    ) -> m.Page[m.AgentSummary]:
        return self._client.call(calls.agents_page(limit=limit, cursor=cursor, **filters))

    def get(self, key: str) -> m.AgentDetail:
        return self._client.call(calls.agent(key))

    def usage(self, key: str, *, since: date | None = None, until: date | None = None) -> m.Usage:
        return self._client.call(calls.usage(key, since=since, until=until))

    def set_budget(self, key: str, tokens: int | None) -> m.Usage:
        """The agent's own daily token budget (None: the global one again)."""
        return self._client.call(calls.set_budget(key, tokens))

    def pause(self, key: str) -> m.AgentDetail:
        """Stop calling the model for the agent: its messages are still recorded, and the
        person is told once that it is paused."""
        return self._client.call(calls.pause(key))

    def resume(self, key: str) -> m.AgentDetail:
        return self._client.call(calls.resume(key))

    def export(self, key: str) -> m.AgentExport:
        """Everything the agent holds, every tier, in one document."""
        return self._client.call(calls.export(key))

    def erase(self, key: str) -> m.AgentErased:
        """Erase the agent and everything it holds (admin); it cannot be undone."""
        return self._client.call(calls.erase(key))


class Checkins:
    def __init__(self, client: Pagemind) -> None:
        self._client = client

    def list(self, agent: str, *, page_size: int | None = None) -> Iterator[m.Checkin]:
        return self._client.pages(calls.checkins_page(agent, limit=page_size))

    def create(
        self,
        agent: str,
        note: str,
        *,
        at: str | None = None,
        every: str | None = None,
        cron: str | None = None,
    ) -> m.Checkin:
        body = m.CheckinCreate(note=note, at=at, every=every, cron=cron)
        return self._client.call(calls.create_checkin(agent, body))

    def cancel(self, agent: str, checkin_id: str) -> None:
        self._client.call(calls.cancel_checkin(agent, checkin_id))


class Archival:
    def __init__(self, client: Pagemind) -> None:
        self._client = client

    def sources(self, agent: str, *, page_size: int | None = None) -> Iterator[m.ArchivalSource]:
        return self._client.pages(calls.sources_page(agent, limit=page_size))

    def search(
        self, agent: str, text: str, *, limit: int | None = None, cursor: str | None = None
    ) -> m.SearchResults:
        return self._client.call(calls.search(agent, text, limit=limit, cursor=cursor))

    def insert(self, agent: str, text: str) -> list[m.Passage]:
        return self._client.call(calls.insert(agent, text)).items

    def delete_passage(self, agent: str, passage_id: str) -> int:
        return self._client.call(calls.delete_passage(agent, passage_id)).deleted

    def delete_source(self, agent: str, document_id: str | None) -> int:
        return self._client.call(calls.delete_source(agent, document_id)).deleted

    def upload(
        self,
        agent: str,
        file: str | Path | bytes,
        *,
        filename: str | None = None,
        mime: str = "application/octet-stream",
    ) -> m.UploadJob:
        """Start loading a file (a path, or bytes with ``filename``); returns its job."""
        if isinstance(file, bytes):
            data, name = file, filename or "upload"
        else:
            path = Path(file)
            data, name = path.read_bytes(), filename or path.name
        return self._client.call(calls.upload(agent, name, data, mime))

    def job(self, agent: str, job_id: str) -> m.UploadJob:
        return self._client.call(calls.upload_job(agent, job_id))

    def wait(
        self, agent: str, job_id: str, *, max_seconds: float = 600.0, every: float = 0.5
    ) -> m.UploadJob:
        """Poll the job until it has finished (stored, or refused with a message)."""
        deadline = time.monotonic() + max_seconds
        while True:
            job = self.job(agent, job_id)
            if job.finished or time.monotonic() > deadline:
                return job
            time.sleep(every)


class Audit:
    def __init__(self, client: Pagemind) -> None:
        self._client = client

    def list(
        self, *, agent: str | None = None, page_size: int | None = None
    ) -> Iterator[m.AuditEntry]:
        """Operator writes, newest first (admin keys only)."""
        return self._client.pages(calls.audit_page(agent=agent, limit=page_size))


class Messages:
    def __init__(self, client: Pagemind) -> None:
        self._client = client

    def list(
        self,
        agent: str,
        *,
        role: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        q: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[m.AgentMessage]:
        """The agent's messages, newest first, page after page (``q``: the agent's own
        recall search over what was said)."""
        first = calls.messages_page(
            agent, role=role, since=since, until=until, q=q, limit=page_size
        )
        return self._client.pages(first)

    def page(
        self, agent: str, *, limit: int | None = None, cursor: str | None = None, **filters: Any
    ) -> m.Page[m.AgentMessage]:
        return self._client.call(calls.messages_page(agent, limit=limit, cursor=cursor, **filters))

    def send(
        self,
        agent: str,
        text: str,
        *,
        user_id: str | None = None,
        user_name: str | None = None,
        idempotency_key: str | None = None,
    ) -> m.MessageSent:
        """Send a message as a person (admin key); returns once the agent's turn is done,
        with its replies and each step. With ``idempotency_key``, sending again with the
        same key (after a timeout or a dropped connection) is safe: the message is sent
        once, and the retry answers with the first turn (``ConflictError`` if the key was
        used for another message)."""
        body = m.MessageSend(text=text, user_id=user_id, user_name=user_name)
        return self._client.call(calls.send_message(agent, body, idempotency_key))

    def stream(
        self,
        agent: str,
        text: str,
        *,
        user_id: str | None = None,
        user_name: str | None = None,
        idempotency_key: str | None = None,
    ) -> Iterator[m.TurnStep]:
        """Send a message as a person and follow the turn: each step as it is stored
        (``ThoughtStep``, ``FunctionCallStep``, ``FunctionResultStep``, ``ReplyStep``),
        then a ``DoneStep`` with every reply. ``idempotency_key`` as for ``send`` (a retry
        gets the first turn's steps once it has ended)."""
        body = m.MessageSend(text=text, user_id=user_id, user_name=user_name, stream=True)
        call = calls.send_message(agent, body, idempotency_key)
        http = self._client._http
        args = request_args(call)
        try:
            with http.stream("POST", call.path, **args) as response:
                if response.status_code != 200:
                    raise_for(response, response.read())
                reader = StepEvents()
                for line in response.iter_lines():
                    step = reader.line(line)
                    if step is not None:
                        yield step
        except httpx.TransportError as exc:
            raise APIConnectionError(f"cannot reach {http.base_url}: {exc}") from exc


class Context:
    def __init__(self, client: Pagemind) -> None:
        self._client = client

    def get(self, agent: str) -> m.ContextWindow:
        """The agent's context window as its next model call would send it, part by part."""
        return self._client.call(calls.context(agent))


class Turns:
    def __init__(self, client: Pagemind) -> None:
        self._client = client

    def list(self, agent: str, *, page_size: int | None = None) -> Iterator[m.TurnSummary]:
        """The agent's past turns, newest first, page after page."""
        return self._client.pages(calls.turns_page(agent, limit=page_size))

    def page(
        self, agent: str, *, limit: int | None = None, cursor: str | None = None
    ) -> m.Page[m.TurnSummary]:
        return self._client.call(calls.turns_page(agent, limit=limit, cursor=cursor))

    def get(self, agent: str, turn_id: str) -> m.TurnTrace:
        """One turn's trace: each model call's exact request, tokens, output and calls."""
        return self._client.call(calls.turn(agent, turn_id))


class Memory:
    """Working-context blocks: read, edit with the version read, and each block's history."""

    def __init__(self, client: Pagemind) -> None:
        self._client = client

    def blocks(self, agent: str) -> list[m.MemoryBlock]:
        return (self._client.call(calls.memory_blocks(agent))).blocks

    def edit(self, agent: str, label: str, value: str, *, version: int) -> m.MemoryBlock:
        """Set the block's text, if it is still at ``version`` (else ``ConflictError``, whose
        ``block`` is the block as it is now). Revert: edit back to an older text."""
        return self._client.call(calls.edit_block(agent, label, value, version))

    def history(
        self, agent: str, label: str, *, page_size: int | None = None
    ) -> Iterator[m.BlockEdit]:
        """The block's edits, newest first, with who made each."""
        return self._client.pages(calls.block_history_page(agent, label, limit=page_size))


class Persons:
    """A person by platform and id (Slack: TEAM:USER), across every agent holding them."""

    def __init__(self, client: Pagemind) -> None:
        self._client = client

    def get(self, platform: str, user_id: str) -> m.Person:
        return self._client.call(calls.person(platform, user_id))

    def export(self, platform: str, user_id: str) -> m.PersonExport:
        return self._client.call(calls.export_person(platform, user_id))

    def erase(self, platform: str, user_id: str) -> m.PersonErased:
        """Their own agents erased; their block removed from group agents (admin)."""
        return self._client.call(calls.erase_person(platform, user_id))
