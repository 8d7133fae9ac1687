"""File parsing for archival memory: an upload's bytes and name in, clean text sections out.

    parsed = await asyncio.to_thread(parse_document, data, filename, mime=content_type)
    for section in parsed.sections:
        ...  # chunk section.text; section.label says where it came from

Every refusal is a ``DocumentError`` whose ``str()`` is written for the user. See NOTES.md for
the libraries, the limits and what each error means.
"""

from .errors import (
    CorruptDocument,
    DocumentError,
    EmptyDocument,
    EncryptedDocument,
    FileTooLarge,
    NotText,
    SuspiciousArchive,
    UnsupportedFileType,
)
from .model import DEFAULT_LIMITS, DEFAULT_MAX_BYTES, Kind, ParsedDocument, ParseLimits, Section
from .parse import parse_document

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_BYTES",
    "CorruptDocument",
    "DocumentError",
    "EmptyDocument",
    "EncryptedDocument",
    "FileTooLarge",
    "Kind",
    "NotText",
    "ParseLimits",
    "ParsedDocument",
    "Section",
    "SuspiciousArchive",
    "UnsupportedFileType",
    "parse_document",
]
