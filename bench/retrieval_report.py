"""``bench.archival_retrieval``'s tables: one run, the baselines, two stores side by side."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.archival_retrieval import Ingested, Mode, Outcome

# ---------------------------------------------------------------------------- report


@dataclass
class Summary:
    recall5: float
    recall10: float
    tokens: float
    ms: float
    by_category: dict[int, float]
    budget_recall: float = 0.0
    budget_turns: float = 0.0
    tokens_max: int = 0
    cut: float = 0.0  # share of searches whose page was cut to fit the budget


def summarize(outcomes: Sequence[Outcome]) -> Summary:
    by_category: dict[int, list[float]] = defaultdict(list)
    for o in outcomes:
        by_category[o.category].append(o.recall10)
    return Summary(
        statistics.fmean(o.recall5 for o in outcomes),
        statistics.fmean(o.recall10 for o in outcomes),
        statistics.fmean(o.tokens for o in outcomes),
        statistics.median(o.ms for o in outcomes),
        {c: statistics.fmean(v) for c, v in sorted(by_category.items())},
        statistics.fmean(o.budget_recall for o in outcomes),
        statistics.fmean(o.budget_turns for o in outcomes),
        max(o.tokens for o in outcomes),
        statistics.fmean(o.cut for o in outcomes),
    )


@dataclass
class Config:
    mode: Mode
    chunk: int
    overlap: int
    outcomes: list[Outcome] = field(default_factory=list)
    ingested: Ingested | None = None

    @property
    def name(self) -> str:
        return f"{self.mode} / {self.chunk} tok"


@dataclass
class Run:
    """Everything measured on one backend."""

    backend: str
    configs: list[Config]
    recall: list[Outcome]
    speed: dict[tuple[int, bool], Ingested]  # (chunk, embedded) -> ingestion
    seconds: float = 0.0


def _categories(s: Summary) -> str:
    return " | ".join(f"{s.by_category.get(c, float('nan')):.3f}" for c in (1, 2, 3, 4))


def print_run(run: Run, budget: int) -> Config | None:
    recall = summarize(run.recall)
    print(f"## {run.backend} (ingestion and search took {run.seconds:.0f} s)")
    print()
    print(
        "| configuration | passages | recall@5 | recall@10 | recall_conv@10 "
        "| top10 tokens mean / max | pages cut | r@10 cat 1 | cat 2 | cat 3 | cat 4 "
        "| search ms p50 | ingest pages/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    best: Config | None = None
    for config in run.configs:
        s = summarize(config.outcomes)
        ingested = config.ingested
        assert ingested is not None
        pages_per_s = ingested.pages / ingested.timings.total
        print(
            f"| {config.name} | {ingested.passages:,} | {s.recall5:.3f} | {s.recall10:.3f} "
            f"| {recall.recall10:.3f} | {s.tokens:,.0f} / {s.tokens_max:,} | {s.cut:.0%} "
            f"| {_categories(s)} | {s.ms:.1f} | {pages_per_s:.1f} |"
        )
        if s.tokens_max <= budget and (
            best is None or s.recall10 > summarize(best.outcomes).recall10
        ):
            best = config
    print()
    print(
        "| recall storage (conversation_search) | recall@5 | recall@10 | top10 tokens "
        "| r@10 cat 1 | cat 2 | cat 3 | cat 4 | search ms p50 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| words (BM25), one message per turn | {recall.recall5:.3f} | {recall.recall10:.3f} "
        f"| {recall.tokens:,.0f} | {_categories(recall)} | {recall.ms:.1f} |"
    )
    print()
    print(
        "| ingestion (all conversations) | sessions | pages | passages | total s | parse s "
        "| chunk + other s | embed s | store s | pages/s | sessions/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (chunk, embedded), ing in sorted(run.speed.items()):
        t = ing.timings
        other = t.total - t.parse - t.embed - t.store
        what = f"{chunk} tok, " + ("MiniLM embeddings" if embedded else "no embedder")
        print(
            f"| {what} | {ing.sessions} | {ing.pages:.0f} | {ing.passages:,} | {t.total:.1f} "
            f"| {t.parse:.2f} | {other:.2f} | {t.embed:.1f} | {t.store:.2f} "
            f"| {ing.pages / t.total:.1f} | {ing.sessions / t.total:.1f} |"
        )
    print()
    return best


def print_baselines(rows: dict[str, list[Outcome]], budget: int) -> None:
    print("## Baselines: single turns")
    print()
    print(
        f"| retrieval over single turns | recall@5 | recall@10 | top10 tokens | r@10 cat 1 "
        f"| cat 2 | cat 3 | cat 4 | recall within {budget:,} tokens | turns in it |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, outcomes in rows.items():
        s = summarize(outcomes)
        print(
            f"| {name} | {s.recall5:.3f} | {s.recall10:.3f} | {s.tokens:,.0f} "
            f"| {_categories(s)} | {s.budget_recall:.3f} | {s.budget_turns:.0f} |"
        )
    print()


def print_comparison(a: Run, b: Run) -> None:
    """Whether two backends return the same results."""
    print(f"## {a.backend} vs {b.backend}")
    print()
    print(
        f"| configuration | recall@10 {a.backend} | recall@10 {b.backend} "
        "| same top 10, in order | same top 10, as a set |"
    )
    print("|---|---|---|---|---|")
    pairs = [(x.name, x.outcomes, y.outcomes) for x, y in zip(a.configs, b.configs, strict=True)]
    pairs.append(("recall storage", a.recall, b.recall))
    for name, xs, ys in pairs:
        same = sum(x.top == y.top for x, y in zip(xs, ys, strict=True))
        same_set = sum(set(x.top) == set(y.top) for x, y in zip(xs, ys, strict=True))
        print(
            f"| {name} | {summarize(xs).recall10:.3f} | {summarize(ys).recall10:.3f} "
            f"| {same}/{len(xs)} | {same_set}/{len(xs)} |"
        )
    print()
