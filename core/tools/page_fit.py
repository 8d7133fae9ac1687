"""Fitting a page of passages into a token budget by keeping each result's best lines.

When the ranked passages do not all fit, dropping the last results loses them whole. Instead
every result keeps the lines that carry the query's words (rarer words on this page count
more), best lines of the best-ranked results first, then the other lines while room is left;
what is left out of a result is marked with "…". A result none of whose lines fit is left
out. Lines are the passage's own lines (one turn of a chat log, a paragraph of a file);
a very long line is cut at the budget's end.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from core.context.tokens import TokenCounter
from core.search.ranking import query_terms, terms

GAP = "…"
NEIGHBOUR = 0.5  # a line's neighbours lend it this share of their weight


@dataclass(frozen=True, slots=True)
class Result:
    """One numbered result: its number ("3." or "3+4."), citation and text lines."""

    number: str
    citation: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Fitted:
    """What a result shows: the runs of consecutive lines kept (none: left out)."""

    runs: tuple[str, ...]
    head_cut: bool  # lines before the first run were left out
    tail_cut: bool  # lines after the last run were left out

    @property
    def whole(self) -> bool:
        return len(self.runs) == 1 and not self.head_cut and not self.tail_cut

    def text(self) -> str:
        head = f"{GAP} " if self.head_cut else ""
        tail = f" {GAP}" if self.tail_cut else ""
        return head + f" {GAP} ".join(self.runs) + tail


def fit(results: Sequence[Result], query: str, counter: TokenCounter, room: int) -> list[Fitted]:
    """Each result's kept lines, costing about ``room`` tokens in all when rendered as
    ``number [citation] text`` lines (the caller checks the exact count)."""
    wanted = set(query_terms(query))
    line_terms = [[set(terms(line)) & wanted for line in r.lines] for r in results]
    on_page = Counter(t for lines in line_terms for found in lines for t in found)
    total_lines = sum(len(r.lines) for r in results) or 1
    weight = {t: math.log(1 + total_lines / n) for t, n in on_page.items()}
    order = []
    for rank, lines in enumerate(line_terms):
        own = [sum(weight[t] for t in found) for found in lines]
        for i, score in enumerate(own):
            near = max(own[max(i - 1, 0) : i + 2])  # a reply or the question it answers
            order.append((-(score + NEIGHBOUR * near), rank, i))
    order.sort()
    chosen: list[set[int]] = [set() for _ in results]
    left = room
    for _, rank, i in order:
        cost = counter.count(" " + results[rank].lines[i]) + 2  # the line and a gap mark
        if not chosen[rank]:
            cost += counter.count(f"\n{results[rank].number} [{results[rank].citation}]")
        if cost <= left:
            chosen[rank].add(i)
            left -= cost
    return [_runs(r, kept) for r, kept in zip(results, chosen, strict=True)]


def _runs(result: Result, kept: set[int]) -> Fitted:
    runs, current = [], []
    for i, line in enumerate(result.lines):
        if i in kept:
            current.append(line)
        elif current:
            runs.append(" ".join(current))
            current = []
    if current:
        runs.append(" ".join(current))
    if not kept:
        return Fitted((), False, False)
    return Fitted(tuple(runs), min(kept) > 0, max(kept) < len(result.lines) - 1)
