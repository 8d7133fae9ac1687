"""``bench.archival_retrieval``'s ingestion: each LoCoMo conversation uploaded as a file
through the product's upload pipeline (parser, chunker, embedder, archival store), timed by
stage, and the map from each stored passage back to the dialogue turns it holds."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from adapters.documents import parse_document
from adapters.documents.normalize import normalize_text
from bench.locomo import Conversation
from core.clock import SystemClock
from core.context.tokens import TokenCounter
from core.events import Event
from core.ports import ArchivalStore, Embedder
from core.ports.uploads import DocumentStatus, ParsedDocument
from core.records import Passage
from core.uploads.pipeline import UploadPipeline, UploadSettings

PAGE_TOKENS = 500


@dataclass
class Timings:
    total: float = 0.0
    parse: float = 0.0
    embed: float = 0.0
    store: float = 0.0


class TimedParser:
    """``parse_document``, timed; keeps the last parsed document (to locate the turns)."""

    def __init__(self, timings: Timings) -> None:
        self.timings = timings
        self.last: ParsedDocument | None = None

    def __call__(
        self, data: bytes, filename: str, *, max_bytes: int, mime: str | None = None
    ) -> ParsedDocument:
        started = time.perf_counter()
        self.last = parse_document(data, filename, max_bytes=max_bytes, mime=mime)
        self.timings.parse += time.perf_counter() - started
        return self.last


class TimedEmbedder:
    def __init__(self, inner: Embedder, timings: Timings) -> None:
        self.inner = inner
        self.timings = timings

    async def embed(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        started = time.perf_counter()
        vectors = await self.inner.embed(texts)
        self.timings.embed += time.perf_counter() - started
        return vectors


class TimedArchival:
    """The archival store with the calls the upload pipeline makes timed."""

    def __init__(self, inner: ArchivalStore, timings: Timings) -> None:
        self.inner = inner
        self.timings = timings

    async def begin_document(
        self, agent_key: str, document_id: str, filename: str, now: datetime, stale_after: float
    ) -> DocumentStatus:
        started = time.perf_counter()
        status = await self.inner.begin_document(agent_key, document_id, filename, now, stale_after)
        self.timings.store += time.perf_counter() - started
        return status

    async def stage(
        self, agent_key: str, document_id: str, passages: Sequence[Passage], now: datetime
    ) -> None:
        started = time.perf_counter()
        await self.inner.stage(agent_key, document_id, passages, now)
        self.timings.store += time.perf_counter() - started

    async def publish_document(self, agent_key: str, document_id: str, now: datetime) -> int:
        started = time.perf_counter()
        count = await self.inner.publish_document(agent_key, document_id, now)
        self.timings.store += time.perf_counter() - started
        return count

    async def abandon_document(self, agent_key: str, document_id: str) -> None:
        await self.inner.abandon_document(agent_key, document_id)


async def _ignore(event: Event) -> bool:
    return True


def _squeeze(text: str) -> str:
    """Text without any whitespace: chunk boundaries may drop or merge spaces."""
    return "".join(normalize_text(text).split())


@dataclass
class PassageMap:
    """Where each passage and turn lies in its session's text (whitespace removed)."""

    turns_of: dict[str, frozenset[str]]  # passage id -> dia_ids it contains
    span_of: dict[str, tuple[str, int, int]]  # passage id -> (section, start, end)
    turn_spans: dict[str, list[tuple[str, int, int]]]  # section -> (dia_id, start, end)
    texts: dict[str, str]  # section -> its text, whitespace removed

    def shown(self, pids: Sequence[str], parts: Sequence[str] | None) -> set[str]:
        """Turns a result shows: one passage or neighbouring chunks joined, whole (``parts``
        None) or only the pieces ``parts`` of their text (cut to fit the budget)."""
        spans = [self.span_of[p] for p in pids]
        section = spans[0][0]
        start, end = min(a for _, a, _ in spans), max(b for _, _, b in spans)
        if parts is None:
            found = set().union(*(self.turns_of[p] for p in pids))
            pieces = [(start, end)]
        else:
            found, pieces, cursor = set(), [], start
            for part in parts:
                piece = _squeeze(part.removesuffix("…"))
                at = self.texts[section].find(piece, cursor)
                if at < 0 or at + len(piece) > end:
                    raise RuntimeError(f"shown text not found in {section}: {part[:60]!r}")
                pieces.append((at, at + len(piece)))
                cursor = at + len(piece)
        for dia, a, b in self.turn_spans[section]:
            if any(a >= lo and b <= hi for lo, hi in pieces):
                found.add(dia)
        return found


def passage_turns(
    conversation: Conversation, parsed: ParsedDocument, passages: Sequence[Passage]
) -> PassageMap:
    """For each passage id, the dia_ids of the turns it contains (see the module docstring)."""
    sections = {s.label: s.text for s in parsed.sections}
    by_section: dict[str | None, list[Passage]] = defaultdict(list)
    for p in passages:
        by_section[p.section].append(p)
    contains: dict[str, set[str]] = {p.id: set() for p in passages}
    partial: dict[str, list[tuple[str, int, int]]] = {}
    span_of: dict[str, tuple[str, int, int]] = {}
    turn_spans: dict[str, list[tuple[str, int, int]]] = {}
    texts: dict[str, str] = {}
    for session in conversation.sessions:
        if not session.turns:
            continue
        text = _squeeze(sections[session.label])
        spans, cursor = [], 0
        for turn in session.turns:
            line = _squeeze(turn.line)
            start = text.find(line, cursor)
            if start < 0:
                raise RuntimeError(f"{turn.dia_id} not found in its section: {turn.line!r}")
            spans.append((turn.dia_id, start, start + len(line)))
            cursor = start + len(line)
        turn_spans[session.label] = spans
        texts[session.label] = text
        cursor = 0
        for p in sorted(by_section[session.label], key=lambda p: p.chunk_index):
            chunk = _squeeze(p.text)
            start = text.find(chunk, cursor)
            if start < 0:
                raise RuntimeError(f"passage {p.id} not found in {session.label}")
            end, cursor = start + len(chunk), start + 1
            span_of[p.id] = (session.label, start, end)
            partial[p.id] = [(d, a, b) for d, a, b in spans if a < end and b > start]
            contains[p.id].update(d for d, a, b in spans if a >= start and b <= end)
    whole = set().union(*contains.values())
    for pid, overlapping in partial.items():  # turns no chunk holds whole: any piece counts
        contains[pid].update(d for d, _, _ in overlapping if d not in whole)
    missing = {t.dia_id for t in conversation.turns} - set().union(*contains.values())
    if missing:
        raise RuntimeError(f"turns in no passage: {sorted(missing)[:5]}")
    turns_of = {pid: frozenset(d) for pid, d in contains.items()}
    return PassageMap(turns_of, span_of, turn_spans, texts)


@dataclass
class Ingested:
    """One configuration's archival store, loaded with every conversation."""

    archival: ArchivalStore
    agents: dict[str, str]  # sample_id -> agent key
    turns_of: dict[str, PassageMap]  # sample_id -> where its passages and turns are
    passages: int
    pages: float
    sessions: int
    timings: Timings


async def ingest(
    archival: ArchivalStore,
    conversations: Sequence[Conversation],
    counter: TokenCounter,
    embedder: Embedder | None,
    settings: UploadSettings,
    tag: str,
) -> Ingested:
    timings = Timings()
    parser = TimedParser(timings)
    pipeline = UploadPipeline(
        archival=cast(ArchivalStore, TimedArchival(archival, timings)),
        parser=parser,
        counter=counter,
        clock=SystemClock(),
        notify=_ignore,
        embedder=TimedEmbedder(embedder, timings) if embedder is not None else None,
        settings=settings,
    )
    result = Ingested(archival, {}, {}, 0, 0.0, 0, timings)
    for conversation in conversations:
        agent = f"bench:{tag}:{conversation.sample_id}"
        data = conversation.markdown().encode("utf-8")
        started = time.perf_counter()
        outcome = await pipeline.ingest(agent, conversation.filename, data)
        timings.total += time.perf_counter() - started
        if outcome.outcome != "stored" or parser.last is None:
            raise RuntimeError(f"{conversation.filename}: {outcome.message}")
        if len(parser.last.sections) != sum(1 for s in conversation.sessions if s.turns):
            raise RuntimeError(f"{conversation.filename}: sections are not the sessions")
        stored = await archival.all(agent)
        result.agents[conversation.sample_id] = agent
        result.turns_of[conversation.sample_id] = passage_turns(conversation, parser.last, stored)
        result.passages += len(stored)
        result.pages += counter.count(data.decode("utf-8")) / PAGE_TOKENS
        result.sessions += len(parser.last.sections)
    return result
