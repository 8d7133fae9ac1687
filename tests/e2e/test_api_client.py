"""``pagemind_client`` against a live server: the sync client (in a thread, as a script runs
it) and the async one page alike, and every error is an exception with the server's words."""

from __future__ import annotations

import asyncio

import pytest

from pagemind_client import (
    APIConnectionError,
    AuthenticationError,
    NotFoundError,
    Pagemind,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
)
from tests.support.api import live_api
from tests.support.openai_server import ScriptedOpenAIServer


async def test_the_sync_and_async_clients_page_alike(llm_default: ScriptedOpenAIServer) -> None:
    async with live_api(llm_default) as live:
        for n in range(7):
            await live.seed(f"discord:user:{n}", ("human", str(n)))

        def sync_listing() -> list[str]:
            with Pagemind(live.url, live.viewer_key) as pm:
                return [a.key for a in pm.agents.list(page_size=2)]

        listed = await asyncio.to_thread(sync_listing)
        async with live.client(live.viewer_key) as pm:
            async_listed = [a.key async for a in pm.agents.list(page_size=3)]
            first = await pm.agents.page(limit=2)
    assert listed == async_listed == [f"discord:user:{n}" for n in range(7)]
    assert len(first.items) == 2 and first.next_cursor


async def test_errors_are_exceptions_with_the_servers_message(
    llm_default: ScriptedOpenAIServer,
) -> None:
    async with live_api(llm_default, api_requests_per_minute=30) as live:
        await live.talk("telegram:user:1", "hello")

        def sync_errors() -> dict[str, Exception]:
            caught: dict[str, Exception] = {}
            with Pagemind(live.url, live.viewer_key) as viewer:
                for name, call in {
                    "missing": lambda: viewer.agents.get("telegram:user:404"),
                    "viewer": lambda: viewer.archival.insert("telegram:user:1", "x"),
                }.items():
                    try:
                        call()
                    except Exception as exc:
                        caught[name] = exc
            with Pagemind(live.url, "pm_0123456789ab_" + "z" * 43) as stranger:
                try:
                    stranger.agents.get("telegram:user:1")
                except Exception as exc:
                    caught["stranger"] = exc
            return caught

        caught = await asyncio.to_thread(sync_errors)
        assert isinstance(caught["missing"], NotFoundError)
        assert caught["missing"].message == "there is no agent 'telegram:user:404'"
        assert isinstance(caught["viewer"], PermissionDeniedError)
        assert "viewer key" in str(caught["viewer"])
        assert isinstance(caught["stranger"], AuthenticationError)
        async with live.client() as pm:
            with pytest.raises(ValidationError) as invalid:
                await pm.checkins.create("telegram:user:1", "hi", cron="not a cron")
            assert invalid.value.field == "cron" and invalid.value.status == 422
            with pytest.raises(RateLimitError) as limited:
                for _ in range(40):
                    await pm.agents.get("telegram:user:1")
            assert limited.value.retry_after >= 1
    with pytest.raises(APIConnectionError):
        async with live.client() as gone:
            await gone.health()
