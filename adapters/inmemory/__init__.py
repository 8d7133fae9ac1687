"""Stores kept in process memory: for tests, benchmarks and ``pagemind chat --storage memory``.

They pass the same contract suite as the MongoDB stores, so the core cannot tell them apart.
"""

from adapters.inmemory.stores import (
    InMemoryAgentStore,
    InMemoryArchivalStore,
    InMemoryCheckinStore,
    InMemoryInbox,
    InMemoryRecallStore,
)

__all__ = [
    "InMemoryAgentStore",
    "InMemoryArchivalStore",
    "InMemoryCheckinStore",
    "InMemoryInbox",
    "InMemoryRecallStore",
]
