"""An agent's archival memory for the operator: its sources, search with scores, insert and
delete.

Writes go to the archival store directly, not through the agent's inbox: passages are not
part of the agent's state, every write is single-document atomic (an insert, a deletion logged
in the agent's counter document before the passages go), and the stores make a deletion
visible to every process's next search at once. The agent's worker may be mid-turn: a search it
runs sees the passage or not, as it would if the person had uploaded or deleted a file.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.context.chunking import chunk_text
from core.context.tokens import TokenCounter
from core.ids import RandomIds
from core.operator.audit import Audit
from core.operator.errors import InvalidRequestError, NotFoundError
from core.operator.keys import Caller
from core.operator.paging import Listing, SortKey, check_limit, decode, encode, page_of
from core.ports import AgentStore, ArchivalStore, Clock, Embedder, IdSource
from core.records import ArchivalQuery, ArchivalSource, Passage
from core.tools.memgpt import ARCHIVAL_CHUNK_TOKENS, ARCHIVAL_OVERLAP_TOKENS

SOURCES = "archival-sources"
SEARCH = "archival-search"
MAX_INSERT_CHARS = 100_000


@dataclass(frozen=True, slots=True)
class ScoredPassage:
    passage: Passage
    score: float | None  # BM25 for word search; the fused reciprocal-rank score with meaning


@dataclass(frozen=True, slots=True)
class SearchResults:
    items: tuple[ScoredPassage, ...]
    total: int
    exact_total: bool
    scoring: str  # "bm25" or "rrf" (words fused with meaning by reciprocal rank)
    next_cursor: str | None


def _source_key(source: ArchivalSource) -> SortKey:
    # Files by when they were stored; the agent's own passages (no file) always last, at a
    # fixed place: their "stored" time moves with each one saved.
    if source.document_id is None:
        return (1, 0.0, "")
    return (0, source.stored_at.timestamp(), source.document_id)


class OperatorArchival:
    def __init__(
        self,
        *,
        agents: AgentStore,
        archival: ArchivalStore,
        counter: TokenCounter,
        clock: Clock,
        audit: Audit,
        embedder: Embedder | None = None,
        ids: IdSource | None = None,
    ) -> None:
        self.ids = ids or RandomIds()
        self.agents = agents
        self.archival = archival
        self.counter = counter
        self.clock = clock
        self.audit = audit
        self.embedder = embedder

    async def _known(self, agent_key: str) -> None:
        if await self.agents.load(agent_key) is None:
            raise NotFoundError(f"there is no agent {agent_key!r}")

    async def sources(
        self, agent_key: str, *, cursor: str | None, limit: int
    ) -> Listing[ArchivalSource]:
        await self._known(agent_key)
        return page_of(SOURCES, await self.archival.sources(agent_key), _source_key, cursor, limit)

    async def search(
        self, agent_key: str, text: str, *, cursor: str | None, limit: int
    ) -> SearchResults:
        """A ranking, not a listing: its cursor is an offset into it, so passages stored
        between two pages can shift later pages."""
        if not text.strip():
            raise InvalidRequestError("say what to search for", field="q")
        await self._known(agent_key)
        check_limit(limit)
        after = decode(SEARCH, cursor)
        offset = int(after[0]) if after else 0
        embedding = None
        if self.embedder is not None:
            (embedding,) = await self.embedder.embed([text])
        page = await self.archival.search(
            agent_key, ArchivalQuery(text=text, embedding=embedding, offset=offset, limit=limit)
        )
        scores: tuple[float | None, ...] = page.scores or (None,) * len(page.items)
        end = offset + len(page.items)
        return SearchResults(
            items=tuple(ScoredPassage(p, s) for p, s in zip(page.items, scores, strict=True)),
            total=page.total,
            exact_total=page.exact_total,
            scoring="rrf" if embedding is not None else "bm25",
            next_cursor=encode(SEARCH, (end,)) if page.items and end < page.total else None,
        )

    async def insert(self, caller: Caller, agent_key: str, text: str) -> tuple[Passage, ...]:
        """Save text as the agent's own passages (chunked and embedded as the agent's
        ``archival_memory_insert`` does)."""
        caller.require_admin()
        if len(text) > MAX_INSERT_CHARS:
            raise InvalidRequestError(
                f"at most {MAX_INSERT_CHARS:,} characters; upload a file for more", field="text"
            )
        await self._known(agent_key)
        chunks = chunk_text(text, self.counter, ARCHIVAL_CHUNK_TOKENS, ARCHIVAL_OVERLAP_TOKENS)
        if not chunks:
            raise InvalidRequestError("the text is empty", field="text")
        vectors = await self.embedder.embed(chunks) if self.embedder else [None] * len(chunks)
        now = self.clock.now()
        batch = self.ids.new_id()[:16]
        passages = tuple(
            Passage(
                id=f"operator:{batch}:{i}",
                text=chunk,
                source=f"saved by operator {caller.name}",
                created_at=now,
                chunk_index=i,
                embedding=vector,
            )
            for i, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True))
        )
        await self.archival.insert(agent_key, passages)
        await self.audit.record(
            caller,
            "archival.insert",
            agent=agent_key,
            target=passages[0].id,
            summary=f"{len(passages)} passage(s), {len(text):,} characters",
        )
        return tuple(p.model_copy(update={"embedding": None}) for p in passages)

    async def delete_passage(self, caller: Caller, agent_key: str, passage_id: str) -> int:
        caller.require_admin()
        await self._known(agent_key)
        deleted = await self.archival.delete_passage(agent_key, passage_id)
        if not deleted:
            raise NotFoundError(f"the agent has no passage {passage_id!r}")
        await self.audit.record(
            caller, "archival.delete_passage", agent=agent_key, target=passage_id
        )
        return deleted

    async def delete_source(self, caller: Caller, agent_key: str, document_id: str) -> int:
        """Delete a whole uploaded file, or with ``document_id`` "own" every passage the
        agent (or an operator) saved."""
        caller.require_admin()
        await self._known(agent_key)
        target = None if document_id == "own" else document_id
        known = {s.document_id for s in await self.archival.sources(agent_key)}
        if target not in known:
            raise NotFoundError(f"the agent has no source {document_id!r} (or it is still loading)")
        deleted = await self.archival.delete_source(agent_key, target)
        await self.audit.record(
            caller,
            "archival.delete_source",
            agent=agent_key,
            target=document_id,
            summary=f"{deleted} passage(s)",
        )
        return deleted
