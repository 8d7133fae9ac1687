"""Pause and resume through the operator API: a paused agent records every message and does
not call the model, the person is told once per pause, and it answers again once resumed.
Against a live server built by the composition root, on in-memory storage and nx-27017."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from core.events import Address, TimerFired
from core.notices import PAUSED_NOTICE
from pagemind_client import NotFoundError
from pagemind_client.errors import PermissionDeniedError
from tests.support.api import LiveApi, live_api
from tests.support.openai_server import ScriptedOpenAIServer

ANA = "telegram:user:1"
BO = "telegram:user:2"


@pytest.fixture
async def live(llm_default: ScriptedOpenAIServer, storage: str) -> AsyncIterator[LiveApi]:
    async with live_api(llm_default, storage) as api:
        await api.talk(ANA, "hello, I'm Ana")
        await api.talk(BO, "hello, I'm Bo")
        yield api


async def collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


def texts_to(live: LiveApi, agent: str) -> list[str]:
    return [r.text for r in live.replies.sent if r.agent_key == agent]


async def test_a_paused_agent_records_messages_calls_no_model_and_says_so_once(
    live: LiveApi, llm_default: ScriptedOpenAIServer
) -> None:
    async with live.client() as pm:
        before = await pm.agents.get(ANA)
        assert before.paused is False
        paused = await pm.agents.pause(ANA)
        assert paused.paused is True
        calls = len(llm_default.requests)
        for text in ("are you there?", "my passport number is X123", "hello?"):
            await live.talk(ANA, text)
        assert len(llm_default.requests) == calls  # no model call while paused
        assert texts_to(live, ANA) == ["Hello!", PAUSED_NOTICE]  # told once
        assert (await pm.agents.get(ANA)).messages == before.messages + 3  # all recorded
        assert [a.key for a in await collect(pm.agents.list(paused=True))] == [ANA]
        assert [a.key for a in await collect(pm.agents.list(paused=False))] == [BO]
        # another agent is not paused: it answers
        await live.talk(BO, "still there?")
        assert texts_to(live, BO) == ["Hello!", "Hello!"]

        resumed = await pm.agents.resume(ANA)
        assert resumed.paused is False
        await live.talk(ANA, "and now?")
        assert texts_to(live, ANA) == ["Hello!", PAUSED_NOTICE, "Hello!"]
        sent = [m["content"] for m in llm_default.requests[-1][1]["messages"]]
        assert any("X123" in str(c) for c in sent), "what came while paused is in context"
        assert await collect(pm.agents.list(paused=True)) == []

        await pm.agents.pause(ANA)  # a new pause: told once again
        await live.talk(ANA, "one")
        await live.talk(ANA, "two")
        assert texts_to(live, ANA)[-2:] == ["Hello!", PAUSED_NOTICE]
        again = await pm.agents.pause(ANA)  # pausing a paused agent changes nothing
        assert again.paused is True
        await live.talk(ANA, "three")
        assert texts_to(live, ANA).count(PAUSED_NOTICE) == 2
        actions = [a.action for a in await collect(pm.audit.list(agent=ANA))]
        assert actions == ["agents.pause", "agents.pause", "agents.resume", "agents.pause"]


async def test_a_check_in_of_a_paused_agent_is_skipped(
    live: LiveApi, llm_default: ScriptedOpenAIServer
) -> None:
    quiet = "telegram:user:3"  # nobody spoke lately: its check-ins call the model
    await live.seed(quiet, ("human", "Cy"), home=Address(platform="telegram", channel_id="3"))

    def timer() -> TimerFired:
        return TimerFired(
            event_id=f"timer:{uuid.uuid4().hex}",
            agent_key=quiet,
            occurred_at=datetime.now(UTC),
            checkin_id="c1",
            note="ask how the trip went",
        )

    async with live.client() as pm:
        calls = len(llm_default.requests)
        await live.svc.dispatcher.submit_and_wait(timer())
        assert len(llm_default.requests) == calls + 1  # running: the check-in is a turn
        await pm.agents.pause(quiet)
        messages = (await pm.agents.get(quiet)).messages
        await live.svc.dispatcher.submit_and_wait(timer())
        assert len(llm_default.requests) == calls + 1  # paused: no model call
        assert (await pm.agents.get(quiet)).messages == messages
        assert texts_to(live, quiet) == ["Hello!"]


async def test_pause_needs_an_admin_and_a_known_agent(live: LiveApi) -> None:
    async with live.client(live.viewer_key) as viewer:
        with pytest.raises(PermissionDeniedError):
            await viewer.agents.pause(ANA)
        with pytest.raises(PermissionDeniedError):
            await viewer.agents.resume(ANA)
        assert (await viewer.agents.get(ANA)).paused is False
    async with live.client() as pm:
        with pytest.raises(NotFoundError):
            await pm.agents.pause("telegram:user:999")
    async with live.http(live.admin_key) as http:
        bad = await http.get("/api/agents?paused=maybe")
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "paused"
        body = await http.post(f"/api/agents/{ANA}/pause", json={"unexpected": 1})
        assert body.status_code == 200  # no body is read: extra JSON changes nothing
