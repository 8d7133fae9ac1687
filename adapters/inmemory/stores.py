"""In-memory implementations of the core's storage ports."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from adapters.inmemory.lexical import bm25_scores
from core.errors import ConcurrentUpdateError
from core.events import Event
from core.messages import Message
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
            scores = bm25_scores(query.text, [m.spoken_text() for m in candidates])
            ranked = [(sc, m) for sc, m in zip(scores, candidates, strict=True) if sc > 0]
            if query.order == "relevance":
                ranked.sort(key=lambda pair: (-pair[0], -pair[1].seq))
            candidates = [m for _, m in ranked]
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


class InMemoryArchivalStore:
    """Word search (BM25), plus cosine similarity when passages and query carry embeddings;
    with both, results are ranked by reciprocal-rank fusion of the two lists."""

    def __init__(self) -> None:
        self._passages: dict[str, dict[str, Passage]] = defaultdict(dict)

    async def insert(self, agent_key: str, passages: Sequence[Passage]) -> None:
        store = self._passages[agent_key]
        for passage in passages:
            store[passage.id] = passage

    async def search(self, agent_key: str, query: ArchivalQuery) -> Page[Passage]:
        passages = list(self._passages.get(agent_key, {}).values())
        lexical = bm25_scores(query.text, [p.text for p in passages])
        lists = [
            [p for sc, p in sorted(zip(lexical, passages, strict=True), key=_by_score) if sc > 0]
        ]
        if query.embedding is not None:
            with_vectors = [p for p in passages if p.embedding is not None]
            sims = [_cosine(query.embedding, p.embedding or ()) for p in with_vectors]
            lists.append(
                [p for _, p in sorted(zip(sims, with_vectors, strict=True), key=_by_score)]
            )
        ranked = reciprocal_rank_fusion(lists)
        items = tuple(ranked[query.offset : query.offset + query.limit])
        return Page(items, len(ranked), query.offset, query.limit)

    async def count(self, agent_key: str) -> int:
        return len(self._passages.get(agent_key, {}))

    async def all(self, agent_key: str) -> list[Passage]:
        return sorted(self._passages.get(agent_key, {}).values(), key=lambda p: p.created_at)

    async def erase(self, agent_key: str) -> None:
        self._passages.pop(agent_key, None)


class InMemoryInbox:
    def __init__(self) -> None:
        self._events: dict[str, Event] = {}
        self._done: set[str] = set()

    async def put(self, event: Event) -> bool:
        if event.event_id in self._events:
            return False
        self._events[event.event_id] = event
        return True

    async def pending(self, agent_key: str | None = None) -> list[Event]:
        return [
            e
            for eid, e in self._events.items()
            if eid not in self._done and (agent_key is None or e.agent_key == agent_key)
        ]

    async def mark_done(self, event_id: str, *, error: str | None = None) -> None:
        self._done.add(event_id)


def reciprocal_rank_fusion(lists: Sequence[Sequence[Passage]], k: int = 60) -> list[Passage]:
    scores: dict[str, float] = defaultdict(float)
    by_id: dict[str, Passage] = {}
    for ranked in lists:
        for rank, passage in enumerate(ranked):
            scores[passage.id] += 1.0 / (k + rank + 1)
            by_id[passage.id] = passage
    return [by_id[i] for i in sorted(scores, key=lambda i: -scores[i])]


def _by_score(pair: tuple[float, Passage]) -> tuple[float, str]:
    return (-pair[0], pair[1].id)


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b) or not a:
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0
