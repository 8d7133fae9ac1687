"""In-memory implementations of the core's storage ports."""

from __future__ import annotations

import asyncio
import time
import uuid
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from adapters.text_index import Ranked, TermIndex
from adapters.vectors import VectorSet
from core.checkins.values import Checkin, Claim, Settlement
from core.errors import ConcurrentUpdateError
from core.events import Event
from core.messages import Message
from core.ports.uploads import DocumentStatus
from core.records import (
    AgentState,
    ArchivalQuery,
    ArchivalSource,
    FailedEvent,
    Page,
    Passage,
    RecallQuery,
)
from core.search.ranking import (
    fuse,
    lexical_depth,
    message_terms,
    passage_terms,
    query_terms,
    scores,
)


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


INLINE_LISTING = 5_000  # a longer log is listed in a worker thread
DATE_MARGIN = 20  # messages either side of a date bound that may be out of time order


def _created(message: Message) -> datetime:
    return message.created_at


def _filtered(query: RecallQuery) -> bool:
    """Whether results are filtered by more than the index knows (who said it, when)."""
    return query.roles is not None or query.start is not None or query.end is not None


def _seq(message: Message) -> int:
    return message.seq


class InMemoryRecallStore:
    """Messages per agent, and an inverted index of what was said (``adapters.text_index``)."""

    def __init__(self) -> None:
        self._messages: dict[str, dict[int, Message]] = defaultdict(dict)
        self._index: dict[str, TermIndex[int]] = {}

    async def append(self, agent_key: str, messages: Sequence[Message]) -> None:
        log = self._messages[agent_key]
        for message in messages:
            existing = log.get(message.seq)
            if existing is not None and existing != message:
                raise ConcurrentUpdateError(
                    f"message #{message.seq} of {agent_key!r} was written by another worker"
                )
        fresh = sorted({m.seq: m for m in messages if m.seq not in log}.values(), key=_seq)
        if not fresh:
            return
        newest = next(reversed(log), 0)  # the log is kept in sequence order
        for message in fresh:
            log[message.seq] = message
        index = self._index.get(agent_key)
        if index is None or fresh[0].seq < newest:  # written out of order: sort again
            log = self._messages[agent_key] = dict(sorted(log.items()))
            index = self._index[agent_key] = TermIndex()
            fresh = list(log.values())
        await index.add_many_async([(m.seq, message_terms(m.spoken_text()), m.seq) for m in fresh])

    async def range(self, agent_key: str, after_seq: int, upto_seq: int) -> list[Message]:
        log = self._messages.get(agent_key, {})
        return [log[s] for s in sorted(log) if after_seq < s <= upto_seq]

    async def search(self, agent_key: str, query: RecallQuery) -> Page[Message]:
        log = self._messages.get(agent_key, {})

        def wanted(m: Message) -> bool:
            return (
                (query.max_seq is None or m.seq <= query.max_seq)
                and bool(m.spoken_text())
                and (query.start is None or m.created_at >= query.start)
                and (query.end is None or m.created_at < query.end)
                and (query.roles is None or m.search_role in query.roles)
            )

        if query.text:
            index = self._index.get(agent_key)
            words = query_terms(query.text)
            if index is None or not words:
                return Page((), 0, query.offset, query.limit)
            relevance = query.order == "relevance"
            found = await index.search_async(
                words,
                limit=query.offset + query.limit if relevance else None,
                upto=query.max_seq,
                accept=(lambda seq: wanted(log[seq])) if _filtered(query) else None,
            )
            seqs = [seq for seq, _ in found.ranked]
            if not relevance:
                seqs.sort(reverse=query.order == "newest")
            page = seqs[query.offset : query.offset + query.limit]
            score = dict(found.ranked)
            return Page(
                tuple(log[s] for s in page),
                found.total,
                query.offset,
                query.limit,
                scores=tuple(score[s] for s in page),
            )

        snapshot = list(log.values())  # in sequence order; the loop may append meanwhile

        def listing() -> Page[Message]:
            # sequence order is time order, up to small clock differences: bisect, then
            # look a margin further either side (as the MongoDB store does)
            low, high = 0, len(snapshot)
            if query.start is not None:
                low = max(0, bisect_left(snapshot, query.start, key=_created) - DATE_MARGIN)
            if query.end is not None:
                high = bisect_left(snapshot, query.end, key=_created) + DATE_MARGIN
            candidates = [m for m in snapshot[low:high] if wanted(m)]
            if query.order == "newest":
                candidates.reverse()
            items = tuple(candidates[query.offset : query.offset + query.limit])
            return Page(items, len(candidates), query.offset, query.limit)

        return listing() if len(log) <= INLINE_LISTING else await asyncio.to_thread(listing)

    async def count(self, agent_key: str) -> int:
        return len(self._messages.get(agent_key, {}))

    async def discard_after(self, agent_key: str, seq: int) -> int:
        log = self._messages.get(agent_key, {})
        doomed = [s for s in log if s > seq]
        for s in doomed:
            del log[s]
        index = self._index.get(agent_key)
        if doomed and index is not None:
            await asyncio.to_thread(index.drop_after, seq)
        return len(doomed)

    async def erase(self, agent_key: str) -> None:
        self._messages.pop(agent_key, None)
        self._index.pop(agent_key, None)

    async def forget_author(self, agent_key: str, author_id: str) -> int:
        log = self._messages.get(agent_key, {})
        doomed = [s for s, m in log.items() if m.author_id == author_id]
        for s in doomed:
            del log[s]
        index = self._index.get(agent_key)
        if doomed and index is not None:
            await index.remove_async(doomed)
        return len(doomed)


@dataclass
class _Document:
    filename: str
    status: str
    updated: datetime
    staged: dict[str, tuple[int, Passage]] = field(default_factory=dict)
    passages: int = 0  # published and not deleted


class InMemoryArchivalStore:
    """Word search (BM25 over an inverted index), plus cosine similarity when passages and
    query carry embeddings; with both, results are ranked by reciprocal-rank fusion.

    Passages are numbered in the order they are stored (staged ones when staged), as the
    MongoDB store numbers them: equal scores rank the newer first on both. Every deletion
    (a passage, a source, an abandoned document) goes through ``_forget``, which removes
    the passages from the index and the vectors in place."""

    def __init__(self) -> None:
        self._passages: dict[str, dict[str, Passage]] = defaultdict(dict)
        self._index: dict[str, TermIndex[str]] = {}
        self._vectors: dict[str, VectorSet[str]] = {}
        self._numbers: dict[str, int] = defaultdict(int)
        self._order: dict[str, dict[str, int]] = defaultdict(dict)  # passage -> its number
        self._documents: dict[tuple[str, str], _Document] = {}

    async def insert(self, agent_key: str, passages: Sequence[Passage]) -> None:
        await self._add(agent_key, [(self._number(agent_key), p) for p in passages])

    def _number(self, agent_key: str) -> int:
        self._numbers[agent_key] += 1
        return self._numbers[agent_key]

    async def _add(self, agent_key: str, numbered: Sequence[tuple[int, Passage]]) -> None:
        store = self._passages[agent_key]
        fresh = [(n, p) for n, p in numbered if p.id not in store]
        for n, passage in fresh:
            store[passage.id] = passage
            self._order[agent_key][passage.id] = n
        index = self._index.setdefault(agent_key, TermIndex())
        await index.add_many_async([(p.id, passage_terms(p.text, p.section), n) for n, p in fresh])
        embedded = [p for _, p in fresh if p.embedding is not None]
        if embedded:
            vectors = self._vectors.setdefault(agent_key, VectorSet())
            vectors.add([p.id for p in embedded], [p.embedding or () for p in embedded])

    async def search(self, agent_key: str, query: ArchivalQuery) -> Page[Passage]:
        passages = self._passages.get(agent_key, {})
        index = self._index.get(agent_key)
        depth = lexical_depth(query)
        words = query_terms(query.text)
        found = (
            await index.search_async(words, limit=depth)
            if index is not None and words
            else Ranked([], 0)
        )
        vectors = self._vectors.get(agent_key)
        semantic = None
        if query.embedding is not None:
            semantic = (
                await vectors.nearest_async(query.embedding, query.semantic_k) if vectors else []
            )
        lexical = [pid for pid, _ in found.ranked]
        ranked, total, exact = fuse(lexical, found.total, semantic, depth)
        shown = ranked[query.offset : query.offset + query.limit]
        items = tuple(passages[i] for i in shown)
        rated = scores(shown, found.ranked, semantic)
        return Page(items, total, query.offset, query.limit, exact_total=exact, scores=rated)

    async def count(self, agent_key: str) -> int:
        return len(self._passages.get(agent_key, {}))

    async def all(self, agent_key: str) -> list[Passage]:
        return list(self._passages.get(agent_key, {}).values())

    async def erase(self, agent_key: str) -> None:
        self._passages.pop(agent_key, None)
        self._index.pop(agent_key, None)
        self._vectors.pop(agent_key, None)
        self._numbers.pop(agent_key, None)
        self._order.pop(agent_key, None)
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
        document.staged.update((p.id, (self._number(agent_key), p)) for p in passages)
        document.updated = now

    async def publish_document(self, agent_key: str, document_id: str, now: datetime) -> int:
        document = self._documents[(agent_key, document_id)]
        await self._add(agent_key, list(document.staged.values()))
        count = len(document.staged)
        document.staged.clear()
        document.status, document.updated, document.passages = "published", now, count
        return count

    async def abandon_document(self, agent_key: str, document_id: str) -> None:
        self._documents.pop((agent_key, document_id), None)
        await self._forget(agent_key, self._of_source(agent_key, document_id))

    async def delete_passage(self, agent_key: str, passage_id: str) -> int:
        passage = self._passages.get(agent_key, {}).get(passage_id)
        if passage is None:
            return 0
        deleted = await self._forget(agent_key, [passage_id])
        key = (agent_key, passage.document_id or "")
        document = self._documents.get(key) if passage.document_id is not None else None
        if document is not None and document.status == "published":
            document.passages -= deleted  # its file has one passage fewer
            if document.passages <= 0:
                del self._documents[key]
        return deleted

    async def delete_source(self, agent_key: str, document_id: str | None) -> int:
        if document_id is not None:
            document = self._documents.get((agent_key, document_id))
            if document is not None and document.status == "loading":
                return 0  # still loading: not a source yet
            self._documents.pop((agent_key, document_id), None)
        return await self._forget(agent_key, self._of_source(agent_key, document_id))

    def _of_source(self, agent_key: str, document_id: str | None) -> list[str]:
        store = self._passages.get(agent_key, {})
        return [pid for pid, p in store.items() if p.document_id == document_id]

    async def _forget(self, agent_key: str, passage_ids: Sequence[str]) -> int:
        store, order = self._passages.get(agent_key, {}), self._order[agent_key]
        gone = [pid for pid in passage_ids if store.pop(pid, None) is not None]
        for pid in gone:
            del order[pid]
        index, vectors = self._index.get(agent_key), self._vectors.get(agent_key)
        if index is not None:
            await index.remove_async(gone)
        if vectors is not None:
            await vectors.remove_async(gone)
        return len(gone)

    async def sources(self, agent_key: str) -> list[ArchivalSource]:
        files = sorted(
            (
                ArchivalSource(
                    document_id=document_id,
                    filename=d.filename,
                    passages=d.passages,
                    stored_at=d.updated,
                )
                for (agent, document_id), d in self._documents.items()
                if agent == agent_key and d.status == "published"
            ),
            key=lambda s: (s.stored_at, s.document_id or ""),
        )
        own = [p for p in self._passages.get(agent_key, {}).values() if p.document_id is None]
        if own:
            latest = max(p.created_at for p in own)
            files.append(
                ArchivalSource(document_id=None, filename=None, passages=len(own), stored_at=latest)
            )
        return files

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
        self._errors: dict[str, str] = {}

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
        if error:
            self._errors[event_id] = error

    async def failed(self, agent_key: str, limit: int = 1000) -> list[FailedEvent]:
        found = [
            FailedEvent(event=self._events[eid], error=error)
            for eid, error in self._errors.items()
            if eid in self._events and self._events[eid].agent_key == agent_key
        ]
        return found[:limit]

    async def is_pending(self, event_id: str) -> bool:
        return event_id in self._events and event_id not in self._done

    async def erase(self, agent_key: str) -> None:
        for event_id in [i for i, e in self._events.items() if e.agent_key == agent_key]:
            del self._events[event_id]
            self._done.pop(event_id, None)
            self._errors.pop(event_id, None)

    async def purge(self, retention: timedelta) -> int:
        cutoff = time.time() - retention.total_seconds()
        old = [i for i, done in self._done.items() if done < cutoff and i not in self._errors]
        for event_id in old:
            del self._events[event_id], self._done[event_id]
            self._errors.pop(event_id, None)
        return len(old)


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
        claims: list[Claim] = []
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
