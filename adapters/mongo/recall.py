"""Recall storage: every message, one document each.

``_id`` and ``pos`` are both "<agent>#<seq, zero-padded>": point reads use ``_id``, range
reads the indexed ``pos`` (nx-27017 scans the collection for an ``_id`` range). Word search
ranks every message with exact BM25 over the agent's messages held in this process
(``adapters.mongo.message_index``, as the in-memory store ranks) and fetches only the page
shown. Listing by date turns the date range into a sequence range first: sequence order is
time order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import BulkWriteError

from adapters.mongo.agents import AGENTS
from adapters.mongo.codec import message_from_doc, message_id, message_to_doc, same_message, utc
from adapters.mongo.connection import MongoConnection, translated
from adapters.mongo.message_index import Fact, MessageIndex
from core.errors import ConcurrentUpdateError
from core.messages import Message
from core.records import Page, RecallQuery
from core.search.ranking import query_terms

MESSAGES = "messages"
FORGOTTEN = "forgotten"  # on the agent's document: when messages were last forgotten (ns)
_LAST = 10**12 - 1
_MARGIN = 20  # messages either side of a date bound that may be out of time order


class MongoRecallStore:
    def __init__(self, connection: MongoConnection, *, list_limit: int = 300) -> None:
        self._uri = connection.uri
        self._messages = connection.db[MESSAGES]
        self._agents = connection.db[AGENTS]
        self.list_limit = list_limit  # messages a date listing counts at most
        self.held = MessageIndex(self._messages)

    async def append(self, agent_key: str, messages: Sequence[Message]) -> None:
        if not messages:
            return
        docs = [message_to_doc(agent_key, m) for m in messages]
        with translated(self._uri):
            try:
                await self._messages.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                await self._check_duplicates(agent_key, messages, exc)

    async def _check_duplicates(
        self, agent_key: str, messages: Sequence[Message], exc: BulkWriteError
    ) -> None:
        """Inserting a message again is fine (a replayed write); a different one is not."""
        if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
            raise exc
        by_id = {message_id(agent_key, m.seq): m for m in messages}
        async for doc in self._messages.find({"_id": {"$in": list(by_id)}}):
            if not same_message(doc, by_id[doc["_id"]]):
                raise ConcurrentUpdateError(
                    f"message #{doc['seq']} of {agent_key!r} was written by another worker"
                ) from exc

    async def range(self, agent_key: str, after_seq: int, upto_seq: int) -> list[Message]:
        if upto_seq <= after_seq:
            return []
        with translated(self._uri):
            cursor = self._messages.find(_span(agent_key, after_seq, upto_seq)).sort(
                "pos", ASCENDING
            )
            return [message_from_doc(d) async for d in cursor]

    async def search(self, agent_key: str, query: RecallQuery) -> Page[Message]:
        empty: Page[Message] = Page((), 0, query.offset, query.limit)
        score: dict[int, float] = {}
        with translated(self._uri):
            if query.text:
                words = query_terms(query.text)
                if not words:
                    return empty
                last, committed = query.max_seq, query.max_seq
                agent = await self._agents.find_one(
                    {"_id": agent_key}, {"state.last_seq": 1, FORGOTTEN: 1}
                )
                if query.max_seq is None:  # everything stored, committed or not
                    last = await self._last_seq(agent_key)
                    committed = int(((agent or {}).get("state") or {}).get("last_seq", 0))
                relevance = query.order == "relevance"
                found = await self.held.search(
                    agent_key,
                    words,
                    upto=last or 0,
                    committed=committed,
                    last=None if query.max_seq is not None else last,
                    accept=(lambda seq, fact: _wanted(fact, query))
                    if query.roles is not None or query.start is not None or query.end is not None
                    else None,
                    limit=query.offset + query.limit if relevance else None,
                    forgotten=int((agent or {}).get(FORGOTTEN, 0)),
                )
                seqs = [seq for seq, _ in found.ranked]
                score = dict(found.ranked)
                if not relevance:
                    seqs.sort(reverse=query.order == "newest")
                total, capped = found.total, False
            else:
                low, high = await self._seq_bounds(agent_key, query)
                if low > high:
                    return empty
                where = _span(agent_key, low - 1, high)
                where["search_role"] = (
                    {"$in": sorted(query.roles)} if query.roles else {"$ne": None}
                )
                if query.start is not None or query.end is not None:
                    where["created_at"] = {
                        k: v
                        for k, v in (("$gte", query.start), ("$lt", query.end))
                        if v is not None
                    }
                cursor = (
                    self._messages.find(where, {"seq": 1})
                    .sort("pos", ASCENDING if query.order == "oldest" else DESCENDING)
                    .limit(self.list_limit)
                )
                seqs = [d["seq"] async for d in cursor]
                total, capped = len(seqs), len(seqs) >= self.list_limit
            page = seqs[query.offset : query.offset + query.limit]
            docs = {}
            if page:
                ids = [message_id(agent_key, s) for s in page]
                docs = {d["seq"]: d async for d in self._messages.find({"_id": {"$in": ids}})}
        shown = [s for s in page if s in docs]
        items = tuple(message_from_doc(docs[s]) for s in shown)
        scores = tuple(float(score[s]) for s in shown) if score else ()
        return Page(items, total, query.offset, query.limit, exact_total=not capped, scores=scores)

    async def _seq_bounds(self, agent_key: str, query: RecallQuery) -> tuple[int, int]:
        """The sequence range that can hold the query's dates, found by binary search over
        point reads (sequence order is time order, up to small clock differences between
        a platform's timestamps and ours, hence the margin); callers filter dates exactly."""
        high = query.max_seq if query.max_seq is not None else await self._last_seq(agent_key)
        low = 1
        if query.start is not None:
            low = max(1, await self._first_at(agent_key, query.start, 1, high + 1) - _MARGIN)
        if query.end is not None:
            first_after = await self._first_at(agent_key, query.end, low, high + 1)
            high = min(high, first_after - 1 + _MARGIN)
        return low, high

    async def _last_seq(self, agent_key: str) -> int:
        last = await self._messages.find_one(
            _span(agent_key, 0, _LAST), {"seq": 1}, sort=[("pos", DESCENDING)]
        )
        return int(last["seq"]) if last else 0

    async def _first_at(self, agent_key: str, moment: datetime, lo: int, hi: int) -> int:
        """The first sequence number in [lo, hi) whose message is at or after ``moment``
        (``hi`` if none)."""
        while lo < hi:
            mid = (lo + hi) // 2
            doc = await self._messages.find_one(
                {"_id": message_id(agent_key, mid)}, {"created_at": 1}
            )
            if doc is None or utc(doc["created_at"]) >= moment:
                hi = mid
            else:
                lo = mid + 1
        return lo

    async def count(self, agent_key: str) -> int:
        with translated(self._uri):
            return await self._messages.count_documents(_span(agent_key, 0, _LAST))

    async def discard_after(self, agent_key: str, seq: int) -> int:
        self.held.committed(agent_key, seq)  # called with the last committed message
        with translated(self._uri):
            result = await self._messages.delete_many(_span(agent_key, seq, _LAST))
        return result.deleted_count

    async def erase(self, agent_key: str) -> None:
        self.held.forget(agent_key)
        with translated(self._uri):
            await self._messages.delete_many(_span(agent_key, 0, _LAST))

    async def forget_author(self, agent_key: str, author_id: str) -> int:
        """Deleted, then the agent's document marked (``FORGOTTEN``), then removed from this
        process's held index: any process's next search that reads the new mark builds its
        index afresh (a search already under way may still count them, and shows none)."""
        with translated(self._uri):
            where = {**_span(agent_key, 0, _LAST), "author_id": author_id}
            seqs = [int(d["seq"]) async for d in self._messages.find(where, {"seq": 1})]
            if not seqs:
                return 0
            ids = [message_id(agent_key, s) for s in seqs]
            await self._messages.delete_many({"_id": {"$in": ids}})
            mark = time.time_ns()
            await self._agents.update_one({"_id": agent_key}, {"$max": {FORGOTTEN: mark}})
        await self.held.remove(agent_key, seqs, mark)
        return len(seqs)


def _span(agent_key: str, after_seq: int, upto_seq: int) -> dict[str, Any]:
    """One agent's messages with ``after_seq < seq <= upto_seq`` (sequence numbers start at
    1, so ``after_seq=0`` means from the first)."""
    return {
        "pos": {
            "$gt": message_id(agent_key, max(after_seq, 0)),
            "$lte": message_id(agent_key, min(upto_seq, _LAST)),
        }
    }


def _wanted(fact: Fact, query: RecallQuery) -> bool:
    role, moment = fact
    return (
        (query.roles is None or role in query.roles)
        and (query.start is None or moment >= query.start)
        and (query.end is None or moment < query.end)
    )
