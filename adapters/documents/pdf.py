"""PDF documents, read with pypdf: one section per page, labelled "page N".

pypdf bounds its own decompression and parsing work (``pypdf.Configuration``); we add a page
cap, a text cap and a time budget (checked between pages and, through a text visitor, every
few hundred content-stream operators), and never let it call the external ``jbig2dec``
program. A page whose text cannot be extracted is skipped and logged; a file with no
extractable text at all is reported as having no text layer (a scan).
"""

from __future__ import annotations

import io
import logging
from typing import Any

import pypdf
from pypdf.errors import DependencyError, FileNotDecryptedError

from .collect import SectionCollector
from .errors import CorruptDocument, DocumentError, EmptyDocument, EncryptedDocument, FileTooLarge
from .model import ParseLimits

logger = logging.getLogger(__name__)

_EOF_MARKER = b"%%EOF"
_OPERATORS_PER_TIME_CHECK = 500


def parse_pdf(data: bytes, filename: str, sink: SectionCollector, limits: ParseLimits) -> int:
    """Add one section per page with text to ``sink``; return the page count."""
    if data.rfind(_EOF_MARKER) == -1:
        raise CorruptDocument(
            filename,
            problem="it is incomplete (the end of the file is missing), so it was probably "
            "cut off during upload or download",
        )
    with pypdf.apply_configuration(jbig2dec_binary=None):
        reader, count = _open(data, filename)
        if count > limits.max_pages:
            raise FileTooLarge.over_pages(filename, count, limits.max_pages)
        if count == 0:
            raise EmptyDocument(filename, reason="has no pages")
        failed = 0
        for number in range(1, count + 1):
            sink.check_time(f"page {number:,} of {count:,}")
            text = _page_text(reader, number, filename, _Deadline(sink, number, count))
            if text is None:
                failed += 1
            else:
                sink.add(f"page {number}", text)
    if failed == count:
        raise CorruptDocument(filename, problem="none of its pages could be read")
    if not sink.sections:
        raise EmptyDocument.scanned_pdf(filename)
    return count


def _open(data: bytes, filename: str) -> tuple[pypdf.PdfReader, int]:
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            _unlock(reader, filename)
        return reader, len(reader.pages)
    except (DocumentError, MemoryError):
        raise
    except FileNotDecryptedError as exc:
        raise EncryptedDocument(filename) from exc
    except Exception as exc:  # pypdf raises many types (and ValueError, KeyError...) on bad input
        logger.info("pypdf could not open %r: %r", filename, exc)
        raise CorruptDocument(
            filename, problem="its structure is damaged or it was cut off"
        ) from exc


def _unlock(reader: pypdf.PdfReader, filename: str) -> None:
    """Open a PDF that is encrypted with an empty user password (permissions-only
    protection, which viewers open without asking); refuse any other."""
    try:
        unlocked = reader.decrypt("")
    except DependencyError as exc:  # AES without the ``cryptography`` package installed
        logger.warning("cannot decrypt %r: %s", filename, exc)
        raise EncryptedDocument(filename) from exc
    if not unlocked:
        raise EncryptedDocument(filename)


class _Deadline:
    """A pypdf text visitor that checks the time budget every few hundred operators, so one
    page with a huge content stream cannot run far past it."""

    def __init__(self, sink: SectionCollector, number: int, count: int) -> None:
        self._sink = sink
        self._progress = f"page {number:,} of {count:,}"
        self._operators = 0

    def __call__(self, operator: Any, operands: Any, cm: Any, tm: Any) -> None:
        self._operators += 1
        if self._operators % _OPERATORS_PER_TIME_CHECK == 0:
            self._sink.check_time(self._progress)


def _page_text(
    reader: pypdf.PdfReader, number: int, filename: str, deadline: _Deadline
) -> str | None:
    try:
        return reader.pages[number - 1].extract_text(visitor_operand_before=deadline)
    except (DocumentError, MemoryError):
        raise
    except FileNotDecryptedError as exc:
        raise EncryptedDocument(filename) from exc
    except Exception as exc:  # one bad page should not cost the rest of the document
        logger.warning("skipped page %d of %r: %r", number, filename, exc)
        return None
