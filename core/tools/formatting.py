"""How search results read to the model: paged, counted, each result citing where it is from,
and never longer than the page's token budget.

A page that would cost more than ``PAGE_TOKENS`` is cut, and a last line says so. An archival
page keeps each result's lines that carry the query's words (``core.tools.page_fit``);
otherwise the result that crosses the budget is shortened (or left out when little room is
left) and the ones after it are left out. Passages of one file that are neighbours (chunk k
and k+1 of one section, which share their overlapping text) are shown as one result, the
overlap once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from zoneinfo import ZoneInfo

from core.clock import stamp
from core.context.tokens import TokenCounter
from core.messages import Message
from core.records import Page, Passage
from core.search.ranking import query_terms
from core.tools.page_fit import GAP, Result, fit

T = TypeVar("T")
SNIPPET_CHARS = 700
PASSAGE_CHARS = 2000
PAGE_TOKENS = 2000  # the most one page of search results may cost
_MIN_SHOWN = 40  # tokens: below this, a result that does not fit is left out, not shortened
_OVERLAP_CHARS = 4000  # the longest overlap looked for between neighbouring chunks


@dataclass(frozen=True, slots=True)
class Budget:
    counter: TokenCounter
    tokens: int = PAGE_TOKENS


@dataclass(frozen=True, slots=True)
class Shown:
    """One numbered result as the model reads it: which items it shows, and the text."""

    items: tuple[int, ...]  # positions in the page
    text: str  # the result's line as shown, "[citation] text" (after any shortening)
    cut: bool = False  # shortened to fit the budget
    parts: tuple[str, ...] = ()  # when cut: the pieces of the items' text it still shows


@dataclass(frozen=True, slots=True)
class RenderedPage:
    text: str
    shown: tuple[Shown, ...]
    left_out: int  # results that did not fit


def page_header(page: Page[T], page_number: int, what: str) -> str:
    pages = max(1, -(-page.total // page.limit))
    if page.total == 0:
        return f"No {what} found."
    total = f"{page.total:,}" if page.exact_total else f"{page.total:,}+"
    last = str(pages) if page.exact_total else f"{pages}+"
    if not page.items:
        return f"Page {page_number} is past the last page ({last}) of {total} {what}."
    return f"Showing {len(page.items)} of {total} {what} (page {page_number}/{last}):"


def format_page(
    page: Page[T],
    page_number: int,
    what: str,
    line: Callable[[T], str],
    budget: Budget | None = None,
) -> str:
    """One line per item (``line`` gives its text), within ``budget`` when given."""
    results = [((i,), f"{page.offset + i + 1}.", line(item)) for i, item in enumerate(page.items)]
    return _render(page_header(page, page_number, what), results, budget).text


def render_passages(
    page: Page[Passage], page_number: int, budget: Budget | None, query: str = ""
) -> RenderedPage:
    """An archival search page: neighbouring chunks joined, within ``budget`` when given
    (keeping the lines with ``query``'s words when it must be cut)."""
    groups = _neighbours(page.items)
    numbers = ["+".join(str(page.offset + i + 1) for i in sorted(g)) + "." for g in groups]
    chunks = [[page.items[i] for i in group] for group in groups]
    results = [
        (tuple(g), n, _passages_line(c)) for g, n, c in zip(groups, numbers, chunks, strict=True)
    ]
    header = page_header(page, page_number, "results")
    rendered = _render(header, results, budget if not query_terms(query) else None)
    if budget is None or not query_terms(query):
        return rendered
    if budget.counter.count(rendered.text) <= budget.tokens:
        return rendered
    texts = [_joined(c) for c in chunks]
    lines = [
        Result(n, _citation(c), tuple(" ".join(x.split()) for x in t.splitlines() if x.strip()))
        for n, c, t in zip(numbers, chunks, texts, strict=True)
    ]
    room = (
        budget.tokens - budget.counter.count(header) - budget.counter.count(_fit_note(budget, 99))
    )
    best: RenderedPage | None = None
    for _ in range(6):  # per-line estimates are close: move the room until the count agrees
        fitted = fit(lines, query, budget.counter, room)
        shown = [
            Shown(tuple(g), f"[{r.citation}] {f.text()}", cut=not f.whole, parts=f.runs)
            for g, r, f in zip(groups, lines, fitted, strict=True)
            if f.runs
        ]
        left_out = len(groups) - len(shown)
        body = [
            f"{r.number} [{r.citation}] {f.text()}"
            for r, f in zip(lines, fitted, strict=True)
            if f.runs
        ]
        text = "\n".join([header, *body, _fit_note(budget, left_out)])
        tokens = budget.counter.count(text)
        if tokens <= budget.tokens:
            if best is None or tokens > budget.counter.count(best.text):
                best = RenderedPage(text, tuple(shown), left_out)
            if tokens >= budget.tokens - 8:
                break
        room += budget.tokens - tokens - (4 if tokens > budget.tokens else 0)
    return best if best is not None else _render(header, results, budget)


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def message_line(tz: ZoneInfo) -> Callable[[Message], str]:
    def line(message: Message) -> str:
        who = {"user": message.author_name or "user", "assistant": "you", "system": "system"}[
            message.search_role
        ]
        when = stamp(message.created_at, tz)
        return f"[#{message.seq} {when}, {who}] {snippet(message.spoken_text())}"

    return line


def passage_line(passage: Passage) -> str:
    return _passages_line([passage])


def _passages_line(passages: Sequence[Passage]) -> str:
    return f"[{_citation(passages)}] {snippet(_joined(passages), PASSAGE_CHARS * len(passages))}"


def _citation(passages: Sequence[Passage]) -> str:
    first, last = passages[0], passages[-1]
    citation = first.citation()
    if len(passages) > 1:
        citation = citation.rsplit(", chunk ", 1)[0] + (
            f", chunks {first.chunk_index + 1}-{last.chunk_index + 1}"
        )
    return citation


def _joined(passages: Sequence[Passage]) -> str:
    text = passages[0].text
    for passage in passages[1:]:
        text = _join(text, passage.text)
    return text


def _join(before: str, after: str) -> str:
    """Two neighbouring chunks as one text: the end of ``before`` that ``after`` repeats at
    its start (the chunks' overlap) is kept once."""
    for size in range(min(len(before), len(after), _OVERLAP_CHARS), 0, -1):
        if before.endswith(after[:size]):
            return before + after[size:]
    return before + "\n" + after


def _neighbours(passages: Sequence[Passage]) -> list[list[int]]:
    """Positions in the page, grouped: chunks of one file and section with consecutive
    numbers join the best-ranked of them, in chunk order."""
    by_chunk = {}
    for i, p in enumerate(passages):
        if p.document_id is not None:
            by_chunk[(p.document_id, p.section, p.chunk_index)] = i
    placed: set[int] = set()
    groups = []
    for i, p in enumerate(passages):
        if i in placed:
            continue
        group = [i]
        if p.document_id is not None:
            low = high = p.chunk_index
            while (j := by_chunk.get((p.document_id, p.section, low - 1))) is not None:
                group.insert(0, j)
                low -= 1
            while (j := by_chunk.get((p.document_id, p.section, high + 1))) is not None:
                group.append(j)
                high += 1
        placed.update(group)
        groups.append(group)
    return groups


def _render(
    header: str, results: Sequence[tuple[tuple[int, ...], str, str]], budget: Budget | None
) -> RenderedPage:
    lines = [f"{number} {text}" for _, number, text in results]
    full = "\n".join([header, *lines])
    if budget is None or budget.counter.count(full) <= budget.tokens:
        return RenderedPage(full, tuple(Shown(i, t) for i, _, t in results), 0)
    count = budget.counter.count
    room = budget.tokens - count(header) - count(_cut_note(budget, "99+99.", len(results)))
    kept, shown = [header], []
    for (items, number, text), line in zip(results, lines, strict=True):
        cost = count("\n" + line)
        if cost <= room:
            kept.append(line)
            shown.append(Shown(items, text))
            room -= cost
            continue
        if room - count("\n" + number + " …") >= _MIN_SHOWN:
            short = budget.counter.truncate(text, room - count("\n" + number + " …")).rstrip()
            kept.append(f"{number} {short}…")
            shown.append(Shown(items, short, cut=True))
        left_out = len(results) - len(shown)
        shortened = number if shown and shown[-1].cut else None
        kept.append(_cut_note(budget, shortened, left_out))
        return RenderedPage("\n".join(kept), tuple(shown), left_out)
    return RenderedPage("\n".join(kept), tuple(shown), 0)  # the pieces fit after all


def _fit_note(budget: Budget, left_out: int) -> str:
    out = f"; {left_out:,} result{'s' if left_out != 1 else ''} left out" if left_out else ""
    return (
        f"(Cut to fit {budget.tokens:,} tokens: results show their lines with the query's "
        f"words, {GAP} marks what was left out{out}.)"
    )


def _cut_note(budget: Budget, shortened: str | None, left_out: int) -> str:
    parts = []
    if shortened:
        parts.append(f"result {shortened.rstrip('.')} shortened")
    if left_out:
        parts.append(f"{left_out:,} result{'s' if left_out != 1 else ''} left out")
    return (
        f"(Cut to fit {budget.tokens:,} tokens: {', '.join(parts)}. "
        "More specific words find fewer, shorter results.)"
    )
