"""Clean extracted text: NFC, no control characters, tidy line ends and blank lines."""

from __future__ import annotations

import re
import unicodedata

from core.text import valid_text

# C0 and C1 controls except tab and newline, plus stray byte-order marks. Form feeds go too:
# parsers that treat them as page breaks split on them before normalising.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff]")
_BLANK_RUNS = re.compile(r"\n{3,}")
# Characters we count as "unreadable" when deciding whether decoded bytes are text at all.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffd]")


def normalize_text(text: str) -> str:
    """Make valid (lone surrogates a parser let through become U+FFFD), NFC-normalise, drop
    control characters (keeping ``\\n`` and ``\\t``), unify line ends, strip trailing
    spaces, and collapse runs of blank lines into one.

    Leading indentation is kept (source code, ``<pre>`` blocks), so only blank lines are
    trimmed from the ends.
    """
    text = valid_text(text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n\n")
    text = _CONTROL.sub("", text)
    text = unicodedata.normalize("NFC", text)
    # Line by line, not with a regex: "[ \t]+\n" backtracks quadratically on long space runs.
    text = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip("\n").rstrip()


def unprintable_share(text: str) -> float:
    """The fraction of ``text`` that is control characters or U+FFFD replacement marks."""
    if not text:
        return 0.0
    return sum(1 for _ in _UNPRINTABLE.finditer(text)) / len(text)


def collapse_spaces(text: str) -> str:
    """Turn every run of whitespace (newlines included) into one space."""
    return " ".join(text.split())
