"""In-memory implementations of the core's storage ports."""

from __future__ import annotations

import math
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.checkins import Checkin, Claim, Settlement
from core.documents import DocumentStatus
from core.errors import ConcurrentUpdateError
from core.events import Event
from core.messages import Message
from core.ranking import matches, rank_by_bm25, reciprocal_rank_fusion
from core.records import AgentState, ArchivalQuery, Page, Passage, RecallQuery


class InMemoryAgentStore:
    def __init__(self) -> None:
        self._states: dict[str, AgentState] = {}

    async def load(self, agent_key: str) -> AgentState | None:
        return self._states.get(agent_key)

    async def save(self, state: AgentState, expected_version: int | None) -> AgentState:
        current = self._states.get(state.agent_key)
        if expected_version is None:
            if current is not None:
                raise ConcurrentUpdateError(f"agent {state.agent_key!r} already exists")
        elif current is None or current.version != expected_version:
            found = None if current is None else current.version
            raise ConcurrentUpdateError(
                f"agent {state.agent_key!r} is at version {found}, expected {expected_version}"
            )
        saved = state.model_copy(update={"version": (expected_version or 0) + 1})
        self._states[state.agent_key] = saved
        return saved

    async def list_keys(self) -> list[str]:
        return sorted(self._states)

    async def erase(self, agent_key: str) -> None:
        self._states.pop(agent_key, None)


class InMemoryRecallStore:
    def __init__(self) -> None:
        self._messages: dict[str, dict[int, Message]] = defaultdict(dict)

    async def append(self, agent_key: str, messages: Sequence[Message]) -> None:
        log = self._messages[agent_key]
        for message in messages:
            existing = log.get(message.seq)
            if existing is not None and existing != message:
                raise ConcurrentUpdateError(
                    f"message #{message.seq} of {agent_key!r} was written by another worker"
                )
        for message in messages:
            log[message.seq] = message

    async def range(self, agent_key: str, after_seq: int, upto_seq: int) -> list[Message]:
        log = self._messages.get(agent_key, {})
        return [log[s] for s in sorted(log) if after_seq < s <= upto_seq]

    async def search(self, agent_key: str, query: RecallQuery) -> Page[Message]:
        log = self._messages.get(agent_key, {})
        candidates = [
            m
            for s, m in sorted(log.items())
            if (query.max_seq is None or s <= query.max_seq)
            and m.spoken_text()
            and (query.start is None or m.created_at >= query.start)
            and (query.end is None or m.created_at < query.end)
            and (query.roles is None or m.search_role in query.roles)
        ]
        if query.text:
            text = query.text
            candidates = [m for m in candidates if matches(text, m.spoken_text())]
            if query.order == "relevance":
                candidates = rank_by_bm25(text, candidates, [m.spoken_text() for m in candidates])
        if query.order == "newest":
            candidates.sort(key=lambda m: -m.seq)
        elif query.order == "oldest":
            candidates.sort(key=lambda m: m.seq)
        items = tuple(candidates[query.offset : query.offset + query.limit])
        return Page(items, len(candidates), query.offset, query.limit)

    async def count(self, agent_key: str) -> int:
        return len(self._messages.get(agent_key, {}))

    async def discard_after(self, agent_key: str, seq: int) -> int:
        log = self._messages.get(agent_key, {})
        doomed = [s for s in log if s > seq]
        for s in doomed:
            del log[s]
        return len(doomed)

    async def erase(self, agent_key: str) -> None:
        self._messages.pop(agent_key, None)


@dataclass
class _Document:
    filename: str
    status: str
    updated: datetime
    staged: dict[str, Passage] = field(default_factory=dict)


class InMemoryArchivalStore:
    """Word search (BM25), plus cosine similarity when passages and query carry embeddings;
    with both, results are ranked by reciprocal-rank fusion of the two lists."""

    def __init__(self) -> None:
        self._passages: dict[str, dict[str, Passage]] = defaultdict(dict)
        self._documents: dict[tuple[str, str], _Document] = {}

    async def insert(self, agent_key: str, passages: Sequence[Passage]) -> None:
        store = self._passages[agent_key]
        for passage in passages:
            store.setdefault(passage.id, passage)

    async def search(self, agent_key: str, query: ArchivalQuery) -> Page[Passage]:
        passages = self._passages.get(agent_key, {})
        candidates = [p for p in passages.values() if matches(query.text, p.text)]
        ids = [p.id for p in candidates]
        rankings = [rank_by_bm25(query.text, ids, [p.text for p in candidates])]
        if query.embedding is not None:
            scored = [
                (_cosine(query.embedding, p.embedding), p.id)
                for p in passages.values()
                if p.embedding is not None
            ]
            scored.sort(key=lambda pair: (-pair[0], pair[1]))
            rankings.append([pid for score, pid in scored[: query.semantic_k] if score > 0])
        ranked = reciprocal_rank_fusion(rankings)
        items = tuple(passages[i] for i in ranked[query.offset : query.offset + query.limit])
        return Page(items, len(ranked), query.offset, query.limit)

    async def count(self, agent_key: str) -> int:
        return len(self._passages.get(agent_key, {}))

    async def all(self, agent_key: str) -> list[Passage]:
        return list(self._passages.get(agent_key, {}).values())

    async def erase(self, agent_key: str) -> None:
        self._passages.pop(agent_key, None)
        for key in [k for k in self._documents if k[0] == agent_key]:
            del self._documents[key]

    async def begin_document(
        self, agent_key: str, document_id: str, filename: str, now: datetime, stale_after: float
    ) -> DocumentStatus:
        document = self._documents.get((agent_key, document_id))
        if document is not None:
            if document.status == "published":
                return "stored"
            if (now - document.updated).total_seconds() < stale_after:
                return "busy"
        self._documents[(agent_key, document_id)] = _Document(filename, "loading", now)
        return "new"

    async def stage(
        self, agent_key: str, document_id: str, passages: Sequence[Passage], now: datetime
    ) -> None:
        document = self._documents[(agent_key, document_id)]
        document.staged.update((p.id, p) for p in passages)
        document.updated = now

    async def publish_document(self, agent_key: str, document_id: str, now: datetime) -> int:
        document = self._documents[(agent_key, document_id)]
        await self.insert(agent_key, list(document.staged.values()))
        count = len(document.staged)
        document.staged.clear()
        document.status, document.updated = "published", now
        return count

    async def abandon_document(self, agent_key: str, document_id: str) -> None:
        self._documents.pop((agent_key, document_id), None)

    async def recover_documents(self, older_than: datetime) -> int:
        stalled = [
            key
            for key, d in self._documents.items()
            if d.status == "loading" and d.updated < older_than
        ]
        for key in stalled:
            del self._documents[key]
        return len(stalled)


class InMemoryInbox:
    def __init__(self) -> None:
        self._events: dict[str, Event] = {}
        self._done: dict[str, float] = {}

    async def put(self, event: Event) -> bool:
        if event.event_id in self._events:
            return False
        self._events[event.event_id] = event
        return True

    async def put_many(self, events: Sequence[Event]) -> list[bool]:
        return [await self.put(event) for event in events]

    async def pending(self, agent_key: str | None = None, limit: int = 1000) -> list[Event]:
        found = [
            e
            for eid, e in self._events.items()
            if eid not in self._done and (agent_key is None or e.agent_key == agent_key)
        ]
        return found[:limit]

    async def mark_done(self, event_id: str, *, error: str | None = None) -> None:
        self._done[event_id] = time.time()

    async def is_pending(self, event_id: str) -> bool:
        return event_id in self._events and event_id not in self._done

    async def erase(self, agent_key: str) -> None:
        for event_id in [i for i, e in self._events.items() if e.agent_key == agent_key]:
            del self._events[event_id]
            self._done.pop(event_id, None)

    async def purge(self, retention: timedelta) -> int:
        cutoff = time.time() - retention.total_seconds()
        old = [i for i, done in self._done.items() if done < cutoff]
        for event_id in old:
            del self._events[event_id], self._done[event_id]
        return len(old)


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b) or not a:
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


class InMemoryCheckinStore:
    def __init__(self) -> None:
        self._checkins: dict[str, Checkin] = {}
        self._claims: dict[str, tuple[str, datetime]] = {}  # id -> (token, until)

    async def add(self, checkin: Checkin) -> bool:
        if checkin.id in self._checkins:
            return False
        self._checkins[checkin.id] = checkin
        return True

    async def active(self, agent_key: str) -> list[Checkin]:
        mine = [c for c in self._checkins.values() if c.agent_key == agent_key and c.next_due]
        return sorted(mine, key=lambda c: c.next_due or c.created_at)

    async def cancel(self, agent_key: str, checkin_id: str) -> bool:
        checkin = self._checkins.get(checkin_id)
        if checkin is None or checkin.agent_key != agent_key or checkin.next_due is None:
            return False
        self._checkins[checkin_id] = checkin.model_copy(update={"next_due": None})
        return True

    async def claim_due(
        self, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> list[Claim]:
        claims = []
        for checkin in sorted(self._checkins.values(), key=lambda c: c.next_due or now):
            if len(claims) >= limit:
                break
            held = self._claims.get(checkin.id)
            if checkin.next_due is None or checkin.next_due > now or (held and held[1] > now):
                continue
            token = f"{owner}:{uuid.uuid4().hex[:8]}"
            self._claims[checkin.id] = (token, now + lease)
            claims.append(Claim(checkin, token))
        return claims

    async def settle(self, settlements: Sequence[Settlement]) -> None:
        for s in settlements:
            held = self._claims.get(s.checkin_id)
            checkin = self._checkins.get(s.checkin_id)
            if held is None or held[0] != s.token or checkin is None:
                continue
            del self._claims[s.checkin_id]
            update: dict[str, object] = {"next_due": s.next_due}
            if s.fired_at is not None:
                update |= {"last_fired": s.fired_at, "fired": checkin.fired + 1}
            self._checkins[s.checkin_id] = checkin.model_copy(update=update)

    async def next_due(self, now: datetime) -> datetime | None:
        free = [
            c.next_due
            for c in self._checkins.values()
            if c.next_due is not None and (c.id not in self._claims or self._claims[c.id][1] <= now)
        ]
        return min(free, default=None)

    async def record_tokens(self, checkin_id: str, tokens: int, skipped: bool) -> None:
        checkin = self._checkins.get(checkin_id)
        if checkin is not None:
            self._checkins[checkin_id] = checkin.model_copy(
                update={"tokens": checkin.tokens + tokens, "skipped": checkin.skipped + skipped}
            )

    async def erase(self, agent_key: str) -> None:
        for checkin_id in [i for i, c in self._checkins.items() if c.agent_key == agent_key]:
            del self._checkins[checkin_id]
            self._claims.pop(checkin_id, None)
