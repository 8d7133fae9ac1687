"""An agent's messages held in this process for word search (``adapters.text_index``).

Word search ranks every message of the agent with exact BM25, as the in-memory store does;
the index is built from the stored ``terms`` (never stemmed again). A message can change
only while it is above the agent's last committed one (``discard_after`` removes that tail
at session load, and another step may write different messages there), so messages are held
up to a committed sequence number, learned from the queries' ``max_seq`` (the search tools
pass the agent's last committed message) and from ``discard_after`` calls (made with it).
Messages above it are read afresh by each search that can see them, into a throw-away index
searched together with the held one. The held index is rebuilt now and then
(``REBUILD_SECONDS``: a fresh copy is built aside while searches go on), and at once when
the agent's last message is below what is held (it was erased elsewhere); agents not
searched lately are dropped first past ``max_messages``.

Committed messages are deleted only when a person is erased from the agent
(``MongoRecallStore.forget_author``), which then stamps the agent's document with a new
``forgotten`` mark: each search passes the mark it read, and an index held under another
mark is built afresh (the deleting process updates its own in place).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from adapters.mongo.codec import message_id, utc
from adapters.mongo.rebuilds import Rebuilds
from adapters.text_index import Ranked, TermIndex, search_indexes_async

Collection = AsyncCollection[dict[str, Any]]
REBUILD_SECONDS = 600.0
BATCH = 500  # documents decoded at once on the event loop
Fact = tuple[str, datetime]  # who said it (search role), when
_FIELDS = {"seq": 1, "terms": 1, "search_role": 1, "created_at": 1}


@dataclass
class _Held:
    built_at: float = field(default_factory=time.monotonic)
    upto: int = 0  # every message up to this sequence number is in ``index``
    committed: int = 0  # messages up to this number never change
    index: TermIndex[int] = field(default_factory=TermIndex)
    facts: dict[int, Fact] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    forgotten: int = 0  # the agent's ``forgotten`` mark when this index was begun

    def postpone(self) -> None:
        """Count the next rebuild from now."""
        self.built_at = time.monotonic()


class MessageIndex:
    def __init__(self, messages: Collection, *, max_messages: int = 2_000_000) -> None:
        self._messages = messages
        self.max_messages = max_messages
        self._agents: OrderedDict[str, _Held] = OrderedDict()
        self._rebuilding = Rebuilds("message index")
        self.rebuild_seconds = REBUILD_SECONDS

    def committed(self, agent_key: str, seq: int) -> None:
        """Messages up to ``seq`` are committed: they will not change."""
        held = self._agents.get(agent_key)
        if held is not None:
            held.committed = max(held.committed, seq)

    async def rebuilt(self) -> None:
        """Wait for the rebuilds under way."""
        await self._rebuilding.wait()

    def forget(self, agent_key: str) -> None:
        self._agents.pop(agent_key, None)
        self._rebuilding.cancel(agent_key)

    async def remove(self, agent_key: str, seqs: Sequence[int], forgotten: int) -> None:
        """Messages deleted from the store, which was then marked ``forgotten``: no longer
        held (a rebuild under way, which may have read them, is cancelled; the next search
        starts another when due)."""
        held = self._agents.get(agent_key)
        if held is None:
            return
        self._rebuilding.cancel(agent_key)
        async with held.lock:
            await held.index.remove_async(seqs)
            for seq in seqs:
                held.facts.pop(seq, None)
            if self._agents.get(agent_key) is held:
                held.forgotten = forgotten

    async def _rebuild(self, agent_key: str, old: _Held) -> None:
        fresh = _Held(committed=old.committed, forgotten=old.forgotten)
        async with fresh.lock:
            target = old.upto
            await self._load(agent_key, 0, target, fresh.index, fresh.facts)
            fresh.upto = target
        if self._agents.get(agent_key) is old:
            self._agents[agent_key] = fresh

    async def search(
        self,
        agent_key: str,
        words: Sequence[str],
        *,
        upto: int,
        committed: int | None,
        last: int | None,
        accept: Callable[[int, Fact], bool] | None,
        limit: int | None,
        forgotten: int = 0,
    ) -> Ranked[int]:
        """BM25 over the agent's messages numbered up to ``upto``. ``committed``: a number
        known committed (the query's ``max_seq``); ``last``: the agent's last message, when
        known; ``forgotten``: the agent's mark, read before this search (a stale index is
        rebuilt)."""
        now = time.monotonic()
        held = self._agents.get(agent_key)
        stale = held is not None and (
            (last is not None and last < held.upto) or held.forgotten != forgotten
        )
        if held is None or stale:
            held = self._agents[agent_key] = _Held(built_at=now, forgotten=forgotten)
        elif now - held.built_at > self.rebuild_seconds and agent_key not in self._rebuilding:
            # a fresh copy is built aside; searches use this one meanwhile
            self._rebuilding.start(
                agent_key,
                partial(self._rebuild, agent_key, held),
                failed=held.postpone,
            )
        self._agents.move_to_end(agent_key)
        async with held.lock:
            held.committed = max(held.committed, committed or 0)
            target = min(held.committed, upto)
            if target > held.upto:
                await self._load(agent_key, held.upto, target, held.index, held.facts)
                held.upto = target
            indexes, facts, fresh = [held.index], held.facts, dict[int, Fact]()
            if upto > held.upto:  # not known to be committed: read for this search only
                tail: TermIndex[int] = TermIndex()
                await self._load(agent_key, held.upto, upto, tail, fresh)
                indexes.append(tail)
            self._evict()
            return await search_indexes_async(
                indexes,
                words,
                limit=limit,
                upto=upto,
                accept=None
                if accept is None
                else lambda seq: accept(seq, fresh.get(seq) or facts[seq]),
            )

    async def _load(
        self,
        agent_key: str,
        after: int,
        upto: int,
        index: TermIndex[int],
        facts: dict[int, Fact],
    ) -> None:
        where = {
            "pos": {"$gt": message_id(agent_key, after), "$lte": message_id(agent_key, upto)},
            "search_role": {"$ne": None},
        }
        cursor = self._messages.find(where, _FIELDS).sort("pos", ASCENDING).batch_size(BATCH)
        batch: list[dict[str, Any]] = []
        async for doc in cursor:
            batch.append(doc)
            if len(batch) >= BATCH:
                await _add(index, facts, batch)
                batch = []
        await _add(index, facts, batch)

    def _evict(self) -> None:
        while len(self._agents) > 1 and sum(len(h.facts) for h in self._agents.values()) > (
            self.max_messages
        ):
            self._agents.popitem(last=False)


async def _add(index: TermIndex[int], facts: dict[int, Fact], docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        facts[doc["seq"]] = (doc["search_role"], utc(doc["created_at"]))
    await index.add_many_async([(d["seq"], d["terms"].split(), d["seq"]) for d in docs])
