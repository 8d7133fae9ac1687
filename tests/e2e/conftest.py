"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.openai_server import ScriptedOpenAIServer, tool_reply


@pytest.fixture(params=["memory", "nx-27017"])
def storage(request: pytest.FixtureRequest) -> str:
    """Each store a test using it runs on: in memory, then the session's nx-27017."""
    return "memory" if request.param == "memory" else str(request.getfixturevalue("nx_uri"))


@pytest.fixture
async def llm() -> AsyncIterator[ScriptedOpenAIServer]:
    """The scripted model server with nothing scripted yet: each test adds its replies (a
    test file with its own ``llm`` overrides this one)."""
    async with ScriptedOpenAIServer() as server:
        yield server


@pytest.fixture
async def llm_default() -> AsyncIterator[ScriptedOpenAIServer]:
    """The scripted model server, answering every turn with "Hello!"."""
    reply = tool_reply("send_message", {"message": "Hello!"})
    async with ScriptedOpenAIServer(default=reply) as llm:
        yield llm
