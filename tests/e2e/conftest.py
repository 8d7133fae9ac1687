"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.openai_server import ScriptedOpenAIServer, tool_reply


@pytest.fixture
async def llm_default() -> AsyncIterator[ScriptedOpenAIServer]:
    """The scripted model server, answering every turn with "Hello!"."""
    reply = tool_reply("send_message", {"message": "Hello!"})
    async with ScriptedOpenAIServer(default=reply) as llm:
        yield llm
