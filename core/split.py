"""Splitting a long reply to fit a platform's message limit.

Cuts fall, in order of preference, between paragraphs, after sentences, between words; a
piece is cut mid-word only if a single word is longer than the limit. A code fence (```)
is never broken: a piece that would end inside one closes it, and the next reopens it with
the same language tag.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^(\s*)```(.*)$")
_BOUNDARIES = (
    re.compile(r"\n\s*\n"),  # paragraphs
    re.compile(r"\n"),  # lines
    re.compile(r"(?<=[.!?…])\s+"),  # sentences
    re.compile(r"\s+"),  # words
)


def split_message(text: str, limit: int) -> list[str]:
    if limit < 20:
        raise ValueError("limit must be at least 20 characters")
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    rest = text
    fence = ""  # the opening line of a code block we are inside, if any
    while rest:
        room = limit - (len(fence) + 1 if fence else 0)
        if len(rest) <= room and not (fence and not _closes(rest)):
            pieces.append(f"{fence}\n{rest}" if fence else rest)
            break
        cut = _cut_point(rest, max(room - 4, 8))  # keep room to close a fence
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip("\n ")
        body = f"{fence}\n{head}" if fence else head
        fence = _open_fence_after(body)
        if len(fence) > limit // 4:
            fence = "```"  # an absurdly long language tag: reopen the block without it
        if fence:
            body += "\n```"
        pieces.append(body)
    return [p for p in pieces if p.strip()]


def _cut_point(text: str, room: int) -> int:
    window = text[: room + 1]
    for pattern in _BOUNDARIES:
        cuts = [m.end() for m in pattern.finditer(window) if 0 < m.start() <= room]
        if cuts and cuts[-1] > room // 3:
            return cuts[-1]
    return room


def _open_fence_after(piece: str) -> str:
    """The fence line left open at the end of ``piece`` ("" if none)."""
    opening = ""
    for line in piece.split("\n"):
        match = _FENCE.match(line)
        if match:
            opening = "" if opening else f"```{match.group(2).strip()}"
    return opening


def _closes(text: str) -> bool:
    return any(_FENCE.match(line) for line in text.split("\n"))
