"""The operator API served for real: the service built by the composition root (the real
OpenAI adapter over HTTP to the scripted model server, the chosen storage), uvicorn on
127.0.0.1 at a free port, an admin and a viewer key."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from bots.api import RunningApi, serve_api
from bots.bootstrap import Service, bootstrap
from config.settings import Settings, load_settings
from core.context.memory import MemoryBlock, WorkingContext
from core.events import Address, UserMessageReceived
from core.records import AgentState
from pagemind_client import AsyncPagemind
from tests.support.agents import RecordingSink
from tests.support.openai_server import ScriptedOpenAIServer


@dataclass
class LiveApi:
    svc: Service
    api: RunningApi
    admin_key: str
    viewer_key: str
    replies: RecordingSink

    @property
    def url(self) -> str:
        return self.api.url

    def client(self, key: str | None = None) -> AsyncPagemind:
        return AsyncPagemind(self.url, key if key is not None else self.admin_key)

    def http(self, key: str | None = None) -> httpx.AsyncClient:
        """Raw HTTP, for what a client library would never send."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)

    async def persons_messages(self, agent_key: str) -> list[str]:
        """What people said to the agent, as stored (recall and the state's unfiled), in
        order: one entry per message the agent heard."""
        state = await self.svc.storage.agents.load(agent_key)
        assert state is not None
        recall = await self.svc.storage.recall.range(agent_key, 0, state.last_seq)
        return [m.spoken_text() for m in [*recall, *state.unfiled] if m.kind == "user_message"]

    async def talk(self, agent_key: str, text: str, *, author: str = "42") -> None:
        """A person writes to the agent (as a platform would deliver it); returns once the
        turn is processed."""
        channel = agent_key.split(":")[-1]
        event = UserMessageReceived(
            event_id=f"test:{uuid.uuid4().hex}",
            agent_key=agent_key,
            occurred_at=datetime.now(UTC),
            text=text,
            author_id=author,
            reply_to=Address(platform=agent_key.split(":")[0], channel_id=channel),
        )
        await self.svc.dispatcher.submit_and_wait(event)

    async def seed(self, agent_key: str, *blocks: tuple[str, str], **state: Any) -> AgentState:
        """An agent as if it had talked before (straight into the store)."""
        now = datetime.now(UTC)
        memory = WorkingContext(
            blocks=tuple(MemoryBlock(label=label, value=value) for label, value in blocks)
        )
        fields: dict[str, Any] = {"created_at": now, "updated_at": now, **state}
        created = AgentState(agent_key=agent_key, memory=memory, **fields)
        return await self.svc.storage.agents.save(created, None)


def api_settings(llm: ScriptedOpenAIServer, storage: str, **extra: Any) -> Settings:
    """Settings as a process would read them: storage "memory", or a MongoDB URI."""
    values: dict[str, Any] = {
        "PAGEMIND_LLM_BASE_URL": llm.base_url,  # (an aliased setting: by its variable)
        "llm_model": "scripted",
        "llm_check": False,
        "api_listen": "127.0.0.1",
        "api_port": 0,
        "checkin_poll_seconds": 3600,
        "inbox_poll_seconds": 0.2,
    }
    if storage == "memory":
        values["storage"] = "memory"
    else:
        values["storage"] = "mongodb"
        values["mongodb_uri"] = storage
        values["mongodb_database"] = f"api_{uuid.uuid4().hex[:12]}"
    return load_settings(**values | extra)


@asynccontextmanager
async def live_api(
    llm: ScriptedOpenAIServer, storage: str = "memory", **settings: Any
) -> AsyncIterator[LiveApi]:
    config = api_settings(llm, storage, **settings)
    replies = RecordingSink()
    async with bootstrap(config, replies=replies) as svc, serve_api(svc) as api:
        _, admin = await api.services.keys.create("alice (admin)", "admin")
        _, viewer = await api.services.keys.create("victor (viewer)", "viewer")
        yield LiveApi(svc, api, admin, viewer, replies)
