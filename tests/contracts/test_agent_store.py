"""AgentStore contract: every backend behaves the same."""

from __future__ import annotations

import pytest

from core.context.memory import MemoryBlock, WorkingContext
from core.errors import ConcurrentUpdateError
from core.events import Address, SendReply
from core.records import AgentState, TokenUsage
from tests.contracts.conftest import Stores


def state(key: str, clock) -> AgentState:
    return AgentState(
        agent_key=key,
        memory=WorkingContext(blocks=(MemoryBlock(label="human", value="Ana", limit=100),)),
        created_at=clock.now(),
        updated_at=clock.now(),
    )


async def test_create_load_and_versioned_save(stores: Stores) -> None:
    created = await stores.agents.save(state("telegram:user:1", stores.clock), None)
    assert created.version == 1
    loaded = await stores.agents.load("telegram:user:1")
    assert loaded == created
    changed = loaded.model_copy(
        update={
            "summary": "they met",
            "shown_memory": loaded.memory,
            "outbox": (
                SendReply(
                    agent_key="telegram:user:1",
                    event_id="e",
                    idempotency_key="k",
                    text="hi",
                    address=Address(platform="telegram", channel_id="1", is_direct=True),
                ),
            ),
            "usage_day": "2026-11-21",
            "usage_today": TokenUsage(
                calls=2, prompt_tokens=10, cached_tokens=4, completion_tokens=3
            ),
        }
    )
    saved = await stores.agents.save(changed, expected_version=1)
    assert saved.version == 2
    assert await stores.agents.load("telegram:user:1") == saved


async def test_stale_version_and_double_create_are_refused(stores: Stores) -> None:
    first = await stores.agents.save(state("a", stores.clock), None)
    with pytest.raises(ConcurrentUpdateError):
        await stores.agents.save(state("a", stores.clock), None)
    await stores.agents.save(first, expected_version=1)
    with pytest.raises(ConcurrentUpdateError):
        await stores.agents.save(first, expected_version=1)  # someone saved version 2 already
    with pytest.raises(ConcurrentUpdateError):
        await stores.agents.save(state("missing", stores.clock), expected_version=3)


async def test_erase_and_list(stores: Stores) -> None:
    for key in ("b", "a", "c"):
        await stores.agents.save(state(key, stores.clock), None)
    assert await stores.agents.list_keys() == ["a", "b", "c"]
    await stores.agents.erase("b")
    assert await stores.agents.load("b") is None
    assert await stores.agents.list_keys() == ["a", "c"]
