"""Gather a document's sections while keeping its text and time within the limits."""

from __future__ import annotations

import time
from collections.abc import Callable

from .errors import FileTooLarge
from .model import ParseLimits, Section
from .normalize import collapse_spaces, normalize_text

MAX_LABEL_CHARS = 200


class SectionCollector:
    """Receives sections in reading order, normalises them, drops empty ones, keeps labels to
    one short line, and raises ``FileTooLarge`` as soon as the text or the time spent passes
    its limit.

    Format parsers that build a large section piece by piece call ``check_room`` with the
    size they have pending, so memory stays bounded before the section is complete.
    """

    def __init__(
        self,
        filename: str,
        limits: ParseLimits,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._filename = filename
        self._limits = limits
        self._clock = clock
        self._started = clock()
        self._chars = 0
        self._sections: list[Section] = []

    @property
    def sections(self) -> tuple[Section, ...]:
        return tuple(self._sections)

    def add(self, label: str | None, text: str) -> None:
        """Normalise ``text`` and keep it under ``label`` unless nothing is left of it."""
        self.check_room(len(text))
        text = normalize_text(text)
        if not text:
            return
        self._chars += len(text)
        self._sections.append(Section(label=_clean_label(label), text=text))

    def check_room(self, pending: int) -> None:
        """Raise ``FileTooLarge`` if ``pending`` more characters would pass the text limit."""
        if self._chars + pending > self._limits.max_chars:
            raise FileTooLarge.over_text(self._filename, self._limits.max_chars)

    def check_time(self, progress: str) -> None:
        """Raise ``FileTooLarge`` once the time allowed is spent; ``progress`` says where we
        were ("page 812 of 2,000") for the message."""
        if self._clock() - self._started > self._limits.max_seconds:
            raise FileTooLarge.over_time(self._filename, self._limits.max_seconds, progress)


def _clean_label(label: str | None) -> str | None:
    """One line of at most ``MAX_LABEL_CHARS``: labels come from headings in the document."""
    if label is None:
        return None
    label = collapse_spaces(normalize_text(label))
    if len(label) > MAX_LABEL_CHARS:
        label = label[: MAX_LABEL_CHARS - 1].rstrip() + "…"
    return label or None
