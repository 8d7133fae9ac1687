"""Why an upload could not be read, in words a chat user understands.

Every error's ``str()`` is its user-facing message: the caller sends it to the user verbatim.
Messages name the file, say what is wrong and, where there is one, what the user can do about
it. They never hold a traceback or a library's own wording.

    PagemindError
    └── UploadError                 (core) a file cannot be taken in; the message is for the user
        └── DocumentError           an upload could not be turned into text
        ├── UnsupportedFileType     a format we do not read (.exe, images, old .doc, ...)
        ├── FileTooLarge            over the byte limit, or more pages/text/time than allowed
        ├── EmptyDocument           no text at all (empty file; PDF with no text layer)
        ├── EncryptedDocument       password-protected
        ├── CorruptDocument         damaged, truncated, or not what its extension says
        ├── SuspiciousArchive       a .docx whose zip would unpack absurdly (zip bomb)
        └── NotText                 binary data under a text extension, or mostly control chars
"""

from __future__ import annotations

from core.errors import UploadError

READABLE_FORMATS = "PDF, Word (.docx), HTML, Markdown, plain text, CSV, JSON and source code files"
_SPLIT_HINT = "Try splitting it into smaller files."


class DocumentError(UploadError):
    """An uploaded file could not be turned into text. ``str(exc)`` is for the user."""

    def __init__(self, message: str, *, filename: str) -> None:
        super().__init__(message)
        self.filename = filename

    def __reduce__(self) -> tuple[object, ...]:
        # Subclasses take other arguments than (message,); rebuild from the finished message so
        # the error survives pickling (e.g. when parsing runs in a process pool).
        return (_restore, (type(self), str(self), self.filename))


class UnsupportedFileType(DocumentError):
    """The file is in a format this parser does not read."""

    def __init__(self, filename: str, *, what: str, hint: str | None = None) -> None:
        """``what`` completes "I can't read ...", e.g. ".exe files"."""
        advice = hint or f"I can read {READABLE_FORMATS}."
        super().__init__(f"I can't read {what}. {advice}", filename=filename)


class FileTooLarge(DocumentError):
    """The file, or the text in it, is over a limit; the message says which."""

    @classmethod
    def over_size(cls, filename: str, size: int, limit: int) -> FileTooLarge:
        shown = human_size(size)
        if shown == human_size(limit):
            shown = f"just over {shown}"
        return cls(
            f'"{filename}" is {shown}, and I can read files of up to {human_size(limit)}. '
            f"{_SPLIT_HINT}",
            filename=filename,
        )

    @classmethod
    def over_pages(cls, filename: str, pages: int, limit: int) -> FileTooLarge:
        return cls(
            f'"{filename}" has {pages:,} pages, and I can read up to {limit:,} pages at a time. '
            f"{_SPLIT_HINT}",
            filename=filename,
        )

    @classmethod
    def over_text(cls, filename: str, limit: int | None = None) -> FileTooLarge:
        """Too much text; ``limit`` is the character limit, if that is what was passed."""
        detail = f" (over {limit:,} characters)" if limit is not None else ""
        return cls(
            f'"{filename}" holds more text than I can take in at once{detail}. {_SPLIT_HINT}',
            filename=filename,
        )

    @classmethod
    def over_time(cls, filename: str, seconds: float, progress: str) -> FileTooLarge:
        return cls(
            f'"{filename}" is taking too long to read: I gave up after {seconds:g} '
            f"second{'' if seconds == 1 else 's'}, at {progress}. {_SPLIT_HINT}",
            filename=filename,
        )


class EmptyDocument(DocumentError):
    """The file holds no text worth storing."""

    def __init__(self, filename: str, *, reason: str | None = None) -> None:
        """``reason`` replaces the default "has no text in it" after the quoted file name."""
        super().__init__(f'"{filename}" {reason or "has no text in it"}.', filename=filename)

    @classmethod
    def scanned_pdf(cls, filename: str) -> EmptyDocument:
        return cls(
            filename,
            reason=(
                "has no text layer, so it is probably a scanned document or only images. "
                "I can't read text in images; run it through OCR (text recognition) first, "
                "or export it again with its text, and upload the result"
            ),
        )


class EncryptedDocument(DocumentError):
    """The file is password-protected."""

    def __init__(self, filename: str) -> None:
        super().__init__(
            f'"{filename}" is password-protected, so I can\'t read it. Remove the password '
            "(or save an unprotected copy) and upload it again.",
            filename=filename,
        )


class CorruptDocument(DocumentError):
    """The file is damaged, cut off, or not what its extension says."""

    def __init__(self, filename: str, *, problem: str) -> None:
        """``problem`` says what is wrong in plain words, e.g. "it is cut off"."""
        super().__init__(
            f'I couldn\'t read "{filename}": {problem}. If it opens fine on your computer, '
            "try saving or exporting it again and uploading the new copy.",
            filename=filename,
        )


class SuspiciousArchive(DocumentError):
    """A zip-based document would unpack to an absurd size: treated as a zip bomb."""

    def __init__(self, filename: str, *, problem: str) -> None:
        super().__init__(
            f'I didn\'t open "{filename}": {problem}, which is what a "zip bomb" looks like. '
            "If it is a genuine document, save it again without embedded files and upload "
            "that copy.",
            filename=filename,
        )


class NotText(DocumentError):
    """The file has a text extension but holds binary data, or mostly control characters."""

    def __init__(self, filename: str, *, actually: str | None = None) -> None:
        """``actually`` names what the bytes are, e.g. "a PNG image"; None for generic binary."""
        if actually is None:
            message = (
                f'"{filename}" isn\'t readable text: it is mostly binary data or control '
                "characters. If it's a document, upload it in its original format "
                f"({READABLE_FORMATS.replace(' files', '')})."
            )
        else:
            message = (
                f'"{filename}" isn\'t text: it is actually {actually}. '
                "Upload it under its proper extension if it's something I can read "
                f"({READABLE_FORMATS.replace(' files', '')})."
            )
        super().__init__(message, filename=filename)


def _restore(cls: type[DocumentError], message: str, filename: str) -> DocumentError:
    error = cls.__new__(cls)
    DocumentError.__init__(error, message, filename=filename)
    return error


def human_size(size: int) -> str:
    """A byte count as people say it: "512 bytes", "340 KB", "20 MB" (binary units)."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB"):
        value /= 1024
        if value < 1024:
            return _one_decimal(value) + f" {unit}"
    return _one_decimal(value / 1024) + " GB"


def _one_decimal(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")
