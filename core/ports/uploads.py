"""Uploads: the parser that turns a file into text sections, what a chat platform offers an
upload (the file, a status message), the intake that takes an attachment in, and where a long
load reports progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from core.events import Address
from core.inbound.messages import Attachment, IncomingMessage

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


class Progress(Protocol):
    """Where a long upload reports how far it got (a status message, a progress bar)."""

    async def update(self, done: int, total: int, text: str) -> None: ...

    async def finish(self, text: str) -> None: ...


class UploadIntake(Protocol):
    """Takes a file a user sent and loads it into an agent's archival memory."""

    async def accept(
        self, message: IncomingMessage, attachment: Attachment, agent_key: str
    ) -> str | None:
        """Start loading ``attachment``; returns what to tell the user now, if anything."""
        ...


class PlatformFiles(Protocol):
    """What an upload needs from a chat platform: the file, and a message to show progress in."""

    async def download(self, attachment: Attachment, max_bytes: int) -> bytes:
        """The file's bytes. Raises ``UploadError`` (with a message for the user) when it is
        larger than ``max_bytes`` or than the platform lets a bot download."""
        ...

    async def post_status(self, address: Address, text: str) -> str:
        """Post a status message (threaded like a reply); returns its id for later edits."""
        ...

    async def edit_status(self, address: Address, message_id: str, text: str) -> None: ...
