"""Markdown, split into sections at its headings; the text is otherwise kept as written.

A single pass over the lines recognises ATX headings (``## Setup``), setext headings (a line
underlined with ``===`` or ``---``), fenced code blocks (whose ``#`` lines are not headings
and which are never split) and YAML front matter. The label is the heading path
("Install > Linux"); text before the first heading has no label.
"""

from __future__ import annotations

import re

from .collect import SectionCollector

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_NOT_SETEXT_TEXT = re.compile(r"^ {0,3}([-*+>|]|\d+[.)]|#|```|~~~)|^ {4}")
_FRONT_MATTER_END = re.compile(r"^(---|\.\.\.)[ \t]*$")
_TIME_CHECK_EVERY = 10_000  # lines
_MAX_MARKUP_LINE = 1_000  # longer lines are never taken for headings or fences


def parse_markdown(text: str, sink: SectionCollector) -> None:
    """Add the sections of a Markdown document (already decoded) to ``sink``."""
    lines = text.splitlines()
    sections = _Sections(sink)
    fence: str | None = None
    for index, line in enumerate(_skip_front_matter(lines, sections.body)):
        if index % _TIME_CHECK_EVERY == 0:
            sink.check_time(f"line {index:,}")
        markup = len(line) <= _MAX_MARKUP_LINE
        if fence is not None:
            if markup and line.lstrip(" ").startswith(fence) and not line.strip(" \t`~"):
                fence = None
        elif markup and (opened := _FENCE.match(line)):
            fence = opened.group(1)
        elif markup and (atx := _ATX.match(line)) and (title := (atx.group(2) or "").strip()):
            sections.start(len(atx.group(1)), title)
            continue
        elif markup and (setext := _SETEXT.match(line)) and _is_setext_text(sections.body):
            title = sections.body.pop().strip()
            sections.start(1 if setext.group(1)[0] == "=" else 2, title)
            continue
        sections.append(line)
    sections.finish()


class _Sections:
    """The heading path so far and the body lines under it."""

    def __init__(self, sink: SectionCollector) -> None:
        self._sink = sink
        self._headings: list[tuple[int, str]] = []
        self._pending = 0
        self.body: list[str] = []

    def start(self, level: int, title: str) -> None:
        self.finish()
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, title))

    def append(self, line: str) -> None:
        self.body.append(line)
        self._pending += len(line) + 1
        self._sink.check_room(self._pending)

    def finish(self) -> None:
        label = " > ".join(title for _, title in self._headings) or None
        self._sink.add(label, "\n".join(self.body))
        self.body.clear()
        self._pending = 0


def _skip_front_matter(lines: list[str], body: list[str]) -> list[str]:
    """Move a leading YAML front-matter block (``---`` ... ``---``) into ``body`` untouched,
    so its closing ``---`` is not read as a setext underline; return the remaining lines."""
    if not lines or lines[0].strip() != "---":
        return lines
    for end in range(1, min(len(lines), 200)):
        if _FRONT_MATTER_END.match(lines[end]):
            body.extend(lines[: end + 1])
            return lines[end + 1 :]
    return lines


def _is_setext_text(body: list[str]) -> bool:
    """Whether the last body line can be the text of a setext heading: a one-line paragraph
    that is not a list item, quote, table row or code."""
    if not body or not body[-1].strip() or _NOT_SETEXT_TEXT.match(body[-1]):
        return False
    return len(body) == 1 or not body[-2].strip()
