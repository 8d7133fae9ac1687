"""Split long text into passages of at most N tokens, on natural boundaries, with overlap.

Boundaries are tried from coarse to fine: blank lines (paragraphs), line breaks, sentence
ends, then words; only a single "word" longer than the limit is cut mid-token. Consecutive
chunks share up to ``overlap_tokens`` of text so a fact split across a boundary is still
found whole in one of them.
"""

from __future__ import annotations

import re

from core.context.tokens import TokenCounter

_SPLITTERS = (
    re.compile(r"(?<=\n)\s*\n"),  # paragraphs
    re.compile(r"(?<=\n)"),  # lines
    re.compile(r"(?<=[.!?…。！？])\s+"),  # sentences
    re.compile(r"(?<=\s)"),  # words
)


def chunk_text(
    text: str, counter: TokenCounter, max_tokens: int = 300, overlap_tokens: int = 40
) -> list[str]:
    if max_tokens <= 0:
        raise ValueError("max_tokens must be positive")
    text = text.strip()
    if not text:
        return []
    if counter.count(text) <= max_tokens:
        return [text]
    units = _units(text, counter, max_tokens, 0)
    return _pack(units, max_tokens, min(overlap_tokens, max_tokens // 2))


def _units(text: str, counter: TokenCounter, max_tokens: int, level: int) -> list[tuple[str, int]]:
    """Pieces of ``text`` (with their token counts), each within ``max_tokens``."""
    if level == len(_SPLITTERS):
        return _hard_split(text, counter, max_tokens)
    out: list[tuple[str, int]] = []
    for piece in _SPLITTERS[level].split(text):
        if not piece.strip():
            continue
        n = counter.count(piece)
        if n <= max_tokens:
            out.append((piece, n))
        else:
            out.extend(_units(piece, counter, max_tokens, level + 1))
    return out


def _hard_split(text: str, counter: TokenCounter, max_tokens: int) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    rest = text
    while rest:
        head = counter.truncate(rest, max_tokens) or rest[:1]
        out.append((head, counter.count(head)))
        rest = rest[len(head) :]
    return out


def _pack(units: list[tuple[str, int]], max_tokens: int, overlap: int) -> list[str]:
    chunks: list[str] = []
    current: list[tuple[str, int]] = []
    size = 0
    fresh = 0  # units in ``current`` that no earlier chunk holds
    for unit in units:
        if current and size + unit[1] > max_tokens:
            chunks.append("".join(u for u, _ in current).strip())
            carried: list[tuple[str, int]] = []
            carried_size = 0
            for prev in reversed(current):
                if (
                    carried_size + prev[1] > overlap
                    or carried_size + prev[1] + unit[1] > max_tokens
                ):
                    break
                carried.insert(0, prev)
                carried_size += prev[1]
            current, size, fresh = carried, carried_size, 0
        current.append(unit)
        size += unit[1]
        fresh += 1
    if current and fresh:
        chunks.append("".join(u for u, _ in current).strip())
    return [c for c in chunks if c]
