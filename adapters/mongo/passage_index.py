"""An agent's archival passages held in this process for search: a word index and vectors.

Word search ranks with ``adapters.text_index`` over every visible passage of the agent, like the
in-memory store, so both rank alike and no candidate cap or storage order can hide the best
passage (a database text index only finds candidates, and a complete ranking needs all of
them: at 100,000 passages a typical question's terms match tens of thousands). The index is
built from the stored ``terms`` (never stemmed again) the first time an agent is searched,
then topped up: each insert takes a block of numbers from a per-agent counter, so a reader
that sees the counter move fetches only passages numbered above the highest it holds.
Numbers taken but not seen (a slower writer's) are asked for again at each search until they
are older than ``SETTLE_SECONDS`` (an insert that took a block has written it by then).
Documents published since the last look are loaded by their id (their passages were
numbered while still hidden). Everything is reloaded now and then (``REBUILD_SECONDS``: a
fresh copy is built aside while searches go on), and at once when the counter went back
(the agent was erased elsewhere). Agents not searched
lately are dropped first when the process holds more than ``max_passages``.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from pymongo.asynchronous.collection import AsyncCollection

from adapters.mongo.codec import position, unpack_vector
from adapters.mongo.rebuilds import Rebuilds
from adapters.text_index import TermIndex
from adapters.vectors import VectorSet

Collection = AsyncCollection[dict[str, Any]]
_LAST = 10**12 - 1
VISIBLE = {"hidden": {"$ne": True}}
SETTLE_SECONDS = 5.0  # an insert that took a counter block has written it within this time
REBUILD_SECONDS = 600.0  # reload everything now and then, healing any slower writer
BATCH = 500  # documents decoded at once on the event loop
MISSING_BY_NUMBER = 2000  # fewer missing numbers are asked for one by one


@dataclass
class AgentPassages:
    """One agent's searchable passages: ``index`` (words) and ``vectors`` (meaning)."""

    built_at: float = field(default_factory=time.monotonic)
    settled: int = 0
    published: int = 0
    latest: int = 0  # the counter when last read
    highest: int = 0  # the highest number loaded
    missing: set[int] = field(default_factory=set)  # taken above ``settled``, not seen
    allocations: list[tuple[float, int]] = field(default_factory=list)
    known: set[str] = field(default_factory=set)
    index: TermIndex[str] = field(default_factory=TermIndex)
    vectors: VectorSet = field(default_factory=VectorSet)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def postpone(self) -> None:
        """Count the next rebuild from now."""
        self.built_at = time.monotonic()


class PassageIndex:
    def __init__(
        self,
        passages: Collection,
        counters: Collection,
        documents: Collection,
        *,
        max_passages: int = 2_000_000,
    ) -> None:
        self._passages = passages
        self._counters = counters
        self._documents = documents
        self.max_passages = max_passages
        self._agents: OrderedDict[str, AgentPassages] = OrderedDict()
        self._rebuilding = Rebuilds("passage index")
        self.rebuild_seconds = REBUILD_SECONDS

    async def rebuilt(self) -> None:
        """Wait for the rebuilds under way."""
        await self._rebuilding.wait()

    def forget(self, agent_key: str) -> None:
        self._agents.pop(agent_key, None)
        self._rebuilding.cancel(agent_key)

    async def get(self, agent_key: str) -> AgentPassages:
        """The agent's passages, brought up to date."""
        now = time.monotonic()
        agent = self._agents.get(agent_key)
        if agent is None:
            agent = self._agents[agent_key] = AgentPassages(built_at=now)
        elif now - agent.built_at > self.rebuild_seconds and agent_key not in self._rebuilding:
            # a fresh copy is built aside; searches use this one meanwhile
            self._rebuilding.start(
                agent_key,
                partial(self._rebuild, agent_key, agent),
                failed=agent.postpone,
            )
        self._agents.move_to_end(agent_key)
        async with agent.lock:
            counter = await self._counters.find_one({"_id": agent_key}) or {}
            latest, published = int(counter.get("n", 0)), int(counter.get("published", 0))
            if latest < agent.latest:  # erased and begun again elsewhere: start over
                self._agents[agent_key] = fresh = AgentPassages(built_at=now)
                async with fresh.lock:
                    await self._top_up(agent_key, fresh, now, latest, published)
                agent = fresh
            else:
                await self._top_up(agent_key, agent, now, latest, published)
        self._evict()
        return agent

    async def _rebuild(self, agent_key: str, old: AgentPassages) -> None:
        fresh = AgentPassages()
        async with fresh.lock:
            counter = await self._counters.find_one({"_id": agent_key}) or {}
            latest, published = int(counter.get("n", 0)), int(counter.get("published", 0))
            await self._top_up(agent_key, fresh, time.monotonic(), latest, published)
        if self._agents.get(agent_key) is old:
            self._agents[agent_key] = fresh

    async def _top_up(
        self, agent_key: str, agent: AgentPassages, now: float, latest: int, published: int
    ) -> None:
        if published > agent.published:
            # Documents published since: their passages were numbered while still hidden.
            done = self._documents.find(
                {"agent": agent_key, "published_seq": {"$gt": agent.published}},
                {"document_id": 1},
            )
            document_ids = [d["document_id"] async for d in done]
            if document_ids:
                await self._load(
                    agent, {"agent": agent_key, "document_id": {"$in": document_ids}, **VISIBLE}
                )
            agent.published = published
        if latest > agent.latest:  # numbers taken since the last look: read what is new
            loaded = await self._load(agent, {"pos": span(agent_key, agent.highest), **VISIBLE})
            agent.missing.update(range(agent.latest + 1, latest + 1))
            agent.missing -= loaded
            agent.allocations.append((now, latest))
            agent.latest = latest
        if agent.missing:
            # Numbers taken but not seen: hidden (a document still loading), never used (a
            # passage stored twice), or not written yet by a slower writer: asked for again
            # until they are older than SETTLE_SECONDS.
            where: dict[str, Any] = {"pos": span(agent_key, min(agent.missing) - 1)}
            if len(agent.missing) <= MISSING_BY_NUMBER:
                where = {"pos": {"$in": [position(agent_key, n) for n in agent.missing]}}
            agent.missing -= await self._load(agent, {**where, **VISIBLE})
        while agent.allocations and agent.allocations[0][0] < now - SETTLE_SECONDS:
            agent.settled = max(agent.settled, agent.allocations.pop(0)[1])
            agent.missing = {n for n in agent.missing if n > agent.settled}

    async def _load(self, agent: AgentPassages, where: dict[str, Any]) -> set[int]:
        """Read the passages ``where`` selects into ``agent``; their numbers."""
        cursor = self._passages.find(where, {"pid": 1, "n": 1, "terms": 1, "embedding": 1})
        batch: list[dict[str, Any]] = []
        numbers = set()
        async for doc in cursor.batch_size(BATCH):
            numbers.add(doc["n"])
            if doc["pid"] not in agent.known:
                batch.append(doc)
            if len(batch) >= BATCH:
                await _add(agent, batch)
                batch = []
        await _add(agent, batch)
        return numbers

    def _evict(self) -> None:
        while len(self._agents) > 1 and sum(len(a.known) for a in self._agents.values()) > (
            self.max_passages
        ):
            self._agents.popitem(last=False)


async def _add(agent: AgentPassages, docs: list[dict[str, Any]]) -> None:
    if not docs:
        return
    agent.known.update(d["pid"] for d in docs)
    agent.highest = max(agent.highest, *(d["n"] for d in docs))
    await agent.index.add_many_async([(d["pid"], d["terms"].split(), d["n"]) for d in docs])
    embedded = [d for d in docs if d.get("embedding") is not None]
    if embedded:
        ids = [d["pid"] for d in embedded]
        rows = [_as_array(d["embedding"]) for d in embedded]
        await asyncio.to_thread(agent.vectors.add, ids, rows)


def _as_array(stored: object) -> np.ndarray:
    if isinstance(stored, bytes):
        return np.frombuffer(stored, dtype="<f4").astype(np.float32)
    return np.asarray(unpack_vector(stored), dtype=np.float32)


def span(agent_key: str, after: int = 0) -> dict[str, str]:
    """All of one agent's passages numbered above ``after``, by indexed position."""
    return {"$gt": position(agent_key, after), "$lte": position(agent_key, _LAST)}
