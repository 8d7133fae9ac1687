"""A parsed upload: its text in labelled sections, ready to be chunked into passages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

DocumentStatus = Literal["new", "stored", "busy"]


@dataclass(frozen=True)
class Section:
    """A labelled stretch of a document's text.

    ``label`` says where the text came from ("page 3", "Introduction > Setup", "rows 1-200",
    "function parse_header"); None where there is no better place name.
    """

    label: str | None
    text: str


@dataclass(frozen=True)
class ParsedDocument:
    """The clean text of one upload, in reading order."""

    filename: str  # the base name, control characters removed: safe to show and to log
    kind: str  # "pdf", "docx", "html", "markdown", "text", "csv", "json", "code"
    sections: tuple[Section, ...]  # never empty; no section has empty text
    pages: int | None  # page count, for PDFs only
    sha256: str  # hex digest of the raw bytes: one upload is stored once per agent


class DocumentParser(Protocol):
    """Bytes and a file name in, text sections out. Synchronous and CPU-bound (the pipeline
    runs it in a thread); refuses bad input with an ``UploadError`` meant for the user."""

    def __call__(
        self, data: bytes, filename: str, *, max_bytes: int, mime: str | None = None
    ) -> ParsedDocument: ...
