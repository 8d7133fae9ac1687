"""How search results read to the model: paged, counted, each result citing where it is from."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from zoneinfo import ZoneInfo

from core.clock import stamp
from core.messages import Message
from core.records import Page, Passage

T = TypeVar("T")
SNIPPET_CHARS = 700


def page_header(page: Page[T], page_number: int, what: str) -> str:
    pages = max(1, -(-page.total // page.limit))
    if page.total == 0:
        return f"No {what} found."
    total = f"{page.total:,}" if page.exact_total else f"{page.total:,}+"
    last = str(pages) if page.exact_total else f"{pages}+"
    if not page.items:
        return f"Page {page_number} is past the last page ({last}) of {total} {what}."
    return f"Showing {len(page.items)} of {total} {what} (page {page_number}/{last}):"


def format_page(page: Page[T], page_number: int, what: str, line: Callable[[T], str]) -> str:
    header = page_header(page, page_number, what)
    lines = [header]
    for i, item in enumerate(page.items, start=page.offset + 1):
        lines.append(f"{i}. {line(item)}")
    return "\n".join(lines)


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
    return f"[{passage.citation()}] {snippet(passage.text, 2000)}"
