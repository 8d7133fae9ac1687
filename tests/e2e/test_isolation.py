"""One user's memory never reaches another user's agent, through any function, on MongoDB."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.mongo.agents import MongoAgentStore
from adapters.mongo.archival import MongoArchivalStore
from adapters.mongo.connection import MongoConnection
from adapters.mongo.recall import MongoRecallStore
from adapters.mongo.schema import ensure_indexes
from tests.support.agents import Harness
from tests.support.scripted import ScriptedModel, call, say

SECRET = "zanzibar"


class EchoEmbedder:
    """Deterministic letter-count vectors: enough for semantic search to find SECRET."""

    name = "letters-26"

    async def embed(self, texts):
        return [tuple(float(t.lower().count(chr(97 + i))) for i in range(26)) for t in texts]


@pytest.fixture
async def harness(nx_uri: str) -> AsyncIterator[Harness]:
    connection = MongoConnection(nx_uri, f"iso_{uuid.uuid4().hex[:10]}")
    await ensure_indexes(connection)
    model = ScriptedModel()
    yield Harness(
        model,
        agents=MongoAgentStore(connection),
        recall=MongoRecallStore(connection),
        archival=MongoArchivalStore(connection),
        embedder=EchoEmbedder(),
    )
    await connection.client.drop_database(connection.db.name)
    await connection.aclose()


async def test_nothing_of_alice_reaches_bob(harness: Harness) -> None:
    model: ScriptedModel = harness.model
    alice, bob = "telegram:user:1", "telegram:user:2"
    model.add(
        call(
            "core_memory_append",
            label="human",
            content=f"password hint {SECRET}",
            request_heartbeat=True,
        ),
        call(
            "archival_memory_insert",
            content=f"Alice's locker code word is {SECRET}",
            request_heartbeat=True,
        ),
        say(f"Noted, {SECRET} is safe with me."),
    )
    await harness.send(f"my code word is {SECRET}", agent=alice)

    probes = [
        call("conversation_search", query=SECRET, request_heartbeat=True),
        call(
            "conversation_search",
            query=SECRET,
            roles=["user", "assistant", "system"],
            request_heartbeat=True,
        ),
        call(
            "conversation_search_date",
            start_date="2000-01-01",
            end_date="2100-01-01",
            request_heartbeat=True,
        ),
        call("archival_memory_search", query=SECRET, request_heartbeat=True),
        call("archival_memory_search", query="code word locker", page=1, request_heartbeat=True),
    ]
    model.add(*probes, say("I know nothing about that."))
    await harness.send("what is the code word?", agent=bob)

    bob_requests = model.requests[-len(probes) - 1 :]
    for request in bob_requests:
        for message in request.messages:
            assert SECRET not in message.content, message.content
    results = [r.messages[-1].content for r in bob_requests[1:]]
    assert results[0] == "No messages found." and results[1] == "No messages found."
    assert "what is the code word?" in results[2] and SECRET not in results[2]
    assert results[3] == "No results found." and results[4] == "No results found."
    # and Alice still finds her own
    model.add(call("archival_memory_search", query=SECRET, request_heartbeat=True), say("found"))
    await harness.send("remind me", agent=alice)
    assert SECRET in model.requests[-1].messages[-1].content
    assert SECRET in (await harness.runtime.session(alice)).state.memory.render()
    assert SECRET not in (await harness.runtime.session(bob)).state.memory.render()
