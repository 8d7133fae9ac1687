"""Word (.docx) documents, read with python-docx after the zip-bomb guard.

Body paragraphs and tables are read in order. Paragraphs styled "Title" or "Heading N" start
a new section whose label is the heading path ("Setup > Linux"); list paragraphs get a "- "
bullet; each table row becomes one line of its non-empty cells joined by " | ". Headers,
footers, footnotes, comments and text boxes are not read.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable
from typing import NoReturn

import docx
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.table import Table
from docx.text.paragraph import Paragraph

from .collect import SectionCollector
from .errors import CorruptDocument, DocumentError, FileTooLarge, UnsupportedFileType
from .model import ParseLimits
from .ziparchive import check_zip

logger = logging.getLogger(__name__)

_MAIN_PART = "word/document.xml"
_TEXT = qn("w:t")
_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
_TIME_CHECK_EVERY = 200  # blocks
_Style = tuple[int | None, bool]  # heading level, is a list item


def parse_word(data: bytes, filename: str, sink: SectionCollector, limits: ParseLimits) -> None:
    """Add the sections of a .docx file to ``sink``."""
    sizes = check_zip(data, filename, limits)
    if _MAIN_PART not in sizes:
        _refuse_other_zip(frozenset(sizes), filename)
    if sizes[_MAIN_PART] > limits.max_docx_xml_bytes:
        raise FileTooLarge.over_text(filename)
    try:
        document = docx.Document(io.BytesIO(data))
        _read_body(document.iter_inner_content(), sink)
    except (DocumentError, MemoryError):
        raise
    except Exception as exc:  # python-docx and lxml raise many types on malformed parts
        logger.info("python-docx could not read %r: %r", filename, exc)
        raise CorruptDocument(
            filename, problem="its contents are damaged or not valid Word XML"
        ) from exc


def _refuse_other_zip(names: frozenset[str], filename: str) -> NoReturn:
    if "xl/workbook.xml" in names:
        raise UnsupportedFileType(
            filename,
            what=f'"{filename}": it is an Excel workbook',
            hint="Export the sheet as CSV and upload that.",
        )
    if "ppt/presentation.xml" in names:
        raise UnsupportedFileType(
            filename,
            what=f'"{filename}": it is a PowerPoint presentation',
            hint="Export it as PDF and upload that.",
        )
    raise CorruptDocument(filename, problem="it is a zip archive but not a Word document")


def _read_body(blocks: Iterable[Paragraph | Table], sink: SectionCollector) -> None:
    headings: list[tuple[int, str]] = []  # the open heading path: (level, text)
    lines: list[str] = []
    pending = 0
    styles: dict[str | None, _Style] = {}  # cached by style id

    def flush() -> None:
        nonlocal pending
        label = " > ".join(text for _, text in headings) or None
        sink.add(label, "\n\n".join(lines))
        lines.clear()
        pending = 0

    for index, block in enumerate(blocks):
        if index % _TIME_CHECK_EVERY == 0:
            sink.check_time(f"block {index:,} of the document")
        if isinstance(block, Paragraph):
            level, listed = _style_of(block, styles)
            text = block.text.strip()
            if level is not None and text:
                flush()
                while headings and headings[-1][0] >= level:
                    headings.pop()
                headings.append((level, " ".join(text.split())))
                continue
            if text and listed:
                text = f"- {text}"
        elif isinstance(block, Table):
            text = _table_text(block, sink, pending)
        else:
            continue
        if text:
            lines.append(text)
            pending += len(text) + 2
            sink.check_room(pending)
    flush()


def _style_of(paragraph: Paragraph, cache: dict[str | None, _Style]) -> _Style:
    """The paragraph's heading level (None if not a heading) and whether it is a list item."""
    style_id = paragraph._p.style  # resolving ``.style`` scans all styles: do it once per id
    if style_id not in cache:
        style = paragraph.style
        name = (style.name if style is not None else None) or ""
        match = _HEADING_STYLE.match(name)
        level = 1 if name.lower() == "title" else int(match.group(1)) if match else None
        cache[style_id] = (level, name.lower().startswith("list"))
    level, listed = cache[style_id]
    if not listed:  # Word numbers "List Paragraph"s, and others, in the paragraph itself
        properties = paragraph._p.pPr  # python-docx has no public "is numbered" test
        listed = properties is not None and properties.numPr is not None
    return level, listed


def _table_text(table: Table, sink: SectionCollector, pending: int) -> str:
    """One line per row: the text of its cells joined by " | ", empty cells left out.

    The cells are read from the row's XML, not through ``row.cells``: that expands every
    horizontal span into one cell per grid column and walks vertical merges up row by row
    (quadratic), both of which a hostile file can blow up. A merged cell's text therefore
    appears once, in the row where the merge starts.
    """
    rows: list[str] = []
    for number, row in enumerate(table.rows, start=1):
        sink.check_time(f"row {number:,} of a table")
        cells = (_cell_text(cell) for cell in row._tr.tc_lst)
        line = " | ".join(text for text in cells if text)
        if line:
            rows.append(line)
            pending += len(line) + 1
            sink.check_room(pending)
    return "\n".join(rows)


def _cell_text(cell: BaseOxmlElement) -> str:
    """The cell's text, its paragraphs (nested tables' included) joined by spaces."""
    return " ".join("".join(text.text or "" for text in cell.iter(_TEXT)).split())
