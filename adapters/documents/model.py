"""The values the parser hands back, and the limits that bound its work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.ports.uploads import ParsedDocument, Section

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_BYTES",
    "Kind",
    "ParseLimits",
    "ParsedDocument",
    "Section",
]

Kind = Literal["pdf", "docx", "html", "markdown", "text", "csv", "json", "code"]

DEFAULT_MAX_BYTES = 20 * 2**20


@dataclass(frozen=True)
class ParseLimits:
    """Bounds on the work and memory one document may take. The defaults suit a chat upload.

    The byte limit is ``parse_document``'s ``max_bytes``; these bound what the bytes expand to.
    """

    max_chars: int = 50_000_000  # extracted text, all sections together
    max_pages: int = 2_000  # PDF pages
    max_seconds: float = 120.0  # wall-clock time, checked between pages, rows and blocks
    max_unzipped_bytes: int = 100 * 2**20  # a .docx's members, uncompressed, together
    max_docx_xml_bytes: int = 32 * 2**20  # its main text part (word/document.xml), unpacked
    max_zip_ratio: int = 300  # uncompressed/compressed, for members over 4 MiB
    max_zip_members: int = 10_000
    rows_per_section: int = 200  # CSV rows or JSON records per section
    max_json_depth: int = 32  # deeper values are shown as compact JSON
    max_syntax_tree_bytes: int = 512 * 2**10  # larger Python files: split by regex, not ast


DEFAULT_LIMITS = ParseLimits()
