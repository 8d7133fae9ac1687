"""The entry point: raw bytes and a file name in, clean text sections out."""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath
from typing import assert_never

from core.text import valid_text

from .collect import SectionCollector
from .decode import decode_text
from .detect import Detected, detect
from .errors import EmptyDocument, FileTooLarge
from .jsondata import parse_json
from .markdown import parse_markdown
from .model import DEFAULT_LIMITS, DEFAULT_MAX_BYTES, ParsedDocument, ParseLimits
from .pdf import parse_pdf
from .plaintext import parse_plain_text
from .sourcecode import parse_code
from .tabular import parse_table
from .webpage import parse_html
from .word import parse_word

_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_MAX_NAME = 120


def parse_document(
    data: bytes,
    filename: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    mime: str | None = None,
    limits: ParseLimits = DEFAULT_LIMITS,
) -> ParsedDocument:
    """Read an uploaded file into labelled sections of clean text.

    ``filename`` picks the format by its extension; ``mime`` (e.g. a chat platform's content
    type) is a hint used only when the extension is missing or unknown, and its ``charset``
    helps decode text. The content's magic bytes must agree with the claimed format.

    Synchronous and CPU-bound: call it through ``asyncio.to_thread``. Work and memory are
    bounded by ``max_bytes`` (checked before anything else) and ``limits``.

    Raises a ``DocumentError`` subclass whose message is meant for the user.
    """
    name = display_name(filename)
    if len(data) > max_bytes:
        raise FileTooLarge.over_size(name, len(data), max_bytes)
    if not data.strip():
        raise EmptyDocument(name, reason="is empty")
    found = detect(data, name, mime)
    sink = SectionCollector(name, limits)
    pages = _parse(data, name, found, sink, limits)
    if not sink.sections:
        raise EmptyDocument(name)
    return ParsedDocument(
        filename=name,
        kind=found.kind,
        sections=sink.sections,
        pages=pages,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def display_name(filename: str) -> str:
    """The base name of ``filename`` without control or bidi-override characters, shortened
    to fit in a message (keeping the extension); "untitled" if nothing is left."""
    name = PurePosixPath(valid_text(filename).replace("\\", "/")).name
    name = _UNSAFE_NAME_CHARS.sub("", name).strip()
    if len(name) > _MAX_NAME:
        suffix = PurePosixPath(name).suffix[:16]
        name = name[: _MAX_NAME - len(suffix) - 1] + "…" + suffix
    return name or "untitled"


def _parse(
    data: bytes, name: str, found: Detected, sink: SectionCollector, limits: ParseLimits
) -> int | None:
    """Run the parser for ``found.kind``; return the page count where the format has one."""
    kind = found.kind
    if kind == "pdf":
        return parse_pdf(data, name, sink, limits)
    if kind == "docx":
        parse_word(data, name, sink, limits)
        return None
    if kind == "html":
        parse_html(data, name, sink, charset=found.charset)
        return None
    text = decode_text(data, name, declared=found.charset)
    if kind == "markdown":
        parse_markdown(text, sink)
    elif kind == "text":
        parse_plain_text(text, sink)
    elif kind == "csv":
        parse_table(text, name, found.extension, sink, limits)
    elif kind == "json":
        parse_json(text, name, found.extension, sink, limits)
    elif kind == "code":
        parse_code(text, found.language or "other", sink, limits)
    else:
        assert_never(kind)
    return None
