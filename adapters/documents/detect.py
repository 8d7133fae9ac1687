"""Decide what kind of document an upload is: by extension, then MIME type, then content.

The extension decides the kind when we know it. The content must then agree: a ``.txt``
holding a PNG or a zip is refused as ``NotText``, a ``.pdf`` that is not a PDF as corrupt,
and a ``.docx`` that is really an OLE2 file is either password-protected (Office encrypts
.docx files into OLE2) or an old ``.doc``. Only when the extension is missing or unknown do
the MIME type and the content's magic bytes pick the kind.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from .decode import looks_binary
from .errors import CorruptDocument, EncryptedDocument, NotText, UnsupportedFileType
from .model import Kind

_KINDS: dict[str, Kind] = {
    ".pdf": "pdf",
    ".docx": "docx",
    **dict.fromkeys((".html", ".htm", ".xhtml"), "html"),
    **dict.fromkeys((".md", ".markdown", ".mdown", ".mkd", ".mkdn"), "markdown"),
    **dict.fromkeys(
        (".txt", ".text", ".log", ".rst", ".adoc", ".asciidoc", ".org", ".nfo", ".srt", ".vtt"),
        "text",
    ),
    **dict.fromkeys((".csv", ".tsv", ".tab"), "csv"),
    **dict.fromkeys((".json", ".jsonl", ".ndjson", ".geojson", ".ipynb"), "json"),
}

_LANGUAGES: dict[str, str] = {
    **dict.fromkeys((".py", ".pyi", ".pyw"), "python"),
    **dict.fromkeys((".js", ".mjs", ".cjs", ".jsx"), "javascript"),
    **dict.fromkeys((".ts", ".tsx", ".mts", ".cts"), "typescript"),
    ".go": "go",
    ".rs": "rust",
    **dict.fromkeys((".java", ".kt", ".kts", ".scala", ".groovy", ".gradle"), "java"),
    ".cs": "csharp",
    ".swift": "swift",
    **dict.fromkeys((".c", ".h", ".cpp", ".cc", ".cxx", ".hpp", ".hh", ".hxx", ".m"), "c"),
    ".rb": "ruby",
    ".php": "php",
    **dict.fromkeys((".sh", ".bash", ".zsh", ".ksh"), "shell"),
    ".sql": "sql",
    **dict.fromkeys((".yaml", ".yml"), "yaml"),
    ".toml": "toml",
    **dict.fromkeys((".ini", ".cfg", ".conf", ".properties"), "ini"),
    **dict.fromkeys(
        (".lua", ".pl", ".pm", ".r", ".dart", ".ex", ".exs", ".erl", ".hs", ".ml", ".clj"),
        "other",
    ),
    **dict.fromkeys(
        (".css", ".scss", ".less", ".vue", ".svelte", ".xml", ".proto", ".graphql", ".tf"),
        "other",
    ),
    **dict.fromkeys((".ps1", ".bat", ".cmd", ".fish", ".nix", ".zig", ".jl", ".mk"), "other"),
}
_LANGUAGES_BY_NAME = {
    "makefile": "other",
    "gnumakefile": "other",
    "dockerfile": "other",
    "containerfile": "other",
    "jenkinsfile": "java",
    "rakefile": "ruby",
    "gemfile": "ruby",
}

_MIME_KINDS: dict[str, Kind] = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/plain": "text",
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
    "application/json": "json",
    "application/x-ndjson": "json",
    "application/jsonl": "json",
}

_SPREADSHEET_HINT = "I can't read spreadsheets directly: export the sheet as CSV and upload that."
_HINTS = {
    ".doc": "Open it in Word or LibreOffice, save it as .docx, and upload it again.",
    ".xls": _SPREADSHEET_HINT,
    ".xlsx": _SPREADSHEET_HINT,
    ".ods": _SPREADSHEET_HINT,
    ".numbers": _SPREADSHEET_HINT,
    ".ppt": "Export the presentation as PDF and upload that.",
    ".pptx": "Export the presentation as PDF and upload that.",
    ".odp": "Export the presentation as PDF and upload that.",
    ".key": "Export the presentation as PDF and upload that.",
    ".odt": "Save it as Word (.docx) or PDF and upload that.",
    ".rtf": "Save it as Word (.docx) or PDF and upload that.",
    ".pages": "Export it as Word (.docx) or PDF and upload that.",
}
# Refused by extension alone, whatever the bytes: formats people upload that hold no text we
# read. Anything else unknown is sniffed and read as plain text if it is text.
_REFUSED = frozenset(
    (
        *_HINTS,
        *(".exe", ".dll", ".so", ".dylib", ".bin", ".msi", ".apk", ".dmg", ".iso", ".class"),
        *(".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".rar", ".tar", ".jar"),
        *(".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".ico"),
        *(".svg", ".psd", ".mp3", ".wav", ".ogg", ".flac", ".m4a", ".mp4", ".mov", ".mkv"),
        *(".avi", ".webm", ".epub", ".sqlite", ".db", ".parquet", ".pkl", ".pyc", ".wasm"),
    )
)

# Signatures of formats whose bytes must never be read as text: (offset, bytes) pairs that
# must all match, and what the file is. Short ASCII signatures get a second, binary part so a
# text file that happens to start with "ID3" or "RIFF" is not mistaken for media.
_MAGIC: tuple[tuple[tuple[tuple[int, bytes], ...], str], ...] = (
    (((0, b"%PDF-"),), "a PDF document"),
    (((0, b"\x89PNG\r\n\x1a\n"),), "a PNG image"),
    (((0, b"\xff\xd8\xff"),), "a JPEG image"),
    (((0, b"GIF8"), (5, b"a")), "a GIF image"),
    (((0, b"II*\x00"),), "a TIFF image"),
    (((0, b"MM\x00*"),), "a TIFF image"),
    (((0, b"RIFF"), (8, b"WEBP")), "a WebP image"),
    (((0, b"RIFF"), (8, b"WAVE")), "a WAV audio file"),
    (((0, b"RIFF"), (8, b"AVI ")), "an AVI video"),
    (((4, b"ftyp"),), "a video or image file (MP4/MOV/HEIC)"),
    (((0, b"\x1a\x45\xdf\xa3"),), "a video file (Matroska/WebM)"),
    (((0, b"ID3"), (5, b"\x00")), "an MP3 audio file"),
    (((0, b"OggS\x00"),), "an Ogg audio file"),
    (((0, b"fLaC\x00"),), "a FLAC audio file"),
    (((0, b"\x1f\x8b\x08"),), "a gzip-compressed file"),
    (((0, b"\xfd7zXZ\x00"),), "an xz-compressed file"),
    (((0, b"\x28\xb5\x2f\xfd"),), "a zstd-compressed file"),
    (((0, b"BZh"), (4, b"1AY&SY")), "a bzip2-compressed file"),
    (((0, b"7z\xbc\xaf\x27\x1c"),), "a 7-Zip archive"),
    (((0, b"Rar!\x1a\x07"),), "a RAR archive"),
    (((0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),), "an old-style Microsoft Office file"),
    (((0, b"\x7fELF"),), "a program (ELF executable)"),
    (((0, b"MZ"), (2, b"\x90\x00")), "a Windows program"),
    (((0, b"\xcf\xfa\xed\xfe"),), "a program (Mach-O executable)"),
    (((0, b"\xca\xfe\xba\xbe"),), "a program or Java class file"),
    (((0, b"\x00asm"),), "a WebAssembly module"),
    (((0, b"SQLite format 3\x00"),), "an SQLite database"),
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OFFICE_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
_WORD_DOCUMENT = "a Word document"
_PDF_HEADER_WINDOW = 1024  # readers accept the header anywhere in the first kilobyte


@dataclass(frozen=True)
class Detected:
    """What an upload is. ``language`` is set for source code ("python", "go", "other")."""

    kind: Kind
    extension: str  # lower-case with the dot, "" if none
    language: str | None = None
    charset: str | None = None  # declared by the uploader's MIME type, if any


def detect(data: bytes, filename: str, mime: str | None) -> Detected:
    """Pick the parser for ``data``, or raise the error that explains why none fits."""
    name = PurePosixPath(filename)
    extension = name.suffix.lower()
    mime_type, charset = _split_mime(mime)
    language = _LANGUAGES.get(extension) or _LANGUAGES_BY_NAME.get(name.name.lower())
    kind: Kind | None = "code" if language else _KINDS.get(extension)
    if kind is None and extension in _REFUSED:
        raise UnsupportedFileType(filename, what=f"{extension} files", hint=_HINTS.get(extension))
    if kind is None:  # no telling name: the content's signature outranks the MIME type
        kind = _readable_binary(data) or (_MIME_KINDS.get(mime_type) if mime_type else None)
    if kind is None:
        kind = _sniff_kind(data, filename, extension)
    _check_content(data, filename, kind)
    return Detected(kind=kind, extension=extension, language=language, charset=charset)


def _split_mime(mime: str | None) -> tuple[str | None, str | None]:
    if not mime:
        return None, None
    base, *params = (part.strip() for part in mime.split(";"))
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    return base.lower() or None, charset


def _readable_binary(data: bytes) -> Kind | None:
    """ "pdf" or "docx" if the content's signature says so."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(_ZIP_MAGIC) and _describe_zip(data) == _WORD_DOCUMENT:
        return "docx"
    return None


def _sniff_kind(data: bytes, filename: str, extension: str) -> Kind:
    """The kind of a file whose name, MIME type and signature did not tell us."""
    binary = describe_binary(data)
    if binary is not None:
        raise UnsupportedFileType(filename, what=f'"{filename}": it is {binary}')
    if looks_binary(data):
        what = f"{extension} files" if extension else f'"{filename}" (I don\'t know its format)'
        raise UnsupportedFileType(filename, what=what)
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "html"
    return "text"


def _check_content(data: bytes, filename: str, kind: Kind) -> None:
    """Refuse content that contradicts the kind its name or MIME type claims."""
    if kind == "pdf":
        if b"%PDF-" not in data[:_PDF_HEADER_WINDOW]:
            actually = describe_binary(data)
            problem = f"it is {actually}, not a PDF" if actually else "it isn't a real PDF file"
            raise CorruptDocument(filename, problem=problem)
    elif kind == "docx":
        if data.startswith(_OLE2_MAGIC):
            if _OFFICE_ENCRYPTED_STREAM in data:
                raise EncryptedDocument(filename)
            raise UnsupportedFileType(
                filename,
                what=f'"{filename}": it is an old-style Word (.doc) file with a .docx name',
                hint=_HINTS[".doc"],
            )
        if not data.startswith(_ZIP_MAGIC):
            actually = describe_binary(data)
            problem = (
                f"it is {actually}, not a Word document"
                if actually
                else "it isn't a real Word document (a .docx file is a zip archive, and this "
                "isn't one)"
            )
            raise CorruptDocument(filename, problem=problem)
    else:
        actually = describe_binary(data)
        if actually is not None:
            raise NotText(filename, actually=actually)


def describe_binary(data: bytes) -> str | None:
    """Name the binary format ``data`` is in ("a PNG image"), or None if it has no known
    signature. Zip archives are looked into to tell Word, Excel and PowerPoint files apart."""
    if data.startswith(_ZIP_MAGIC):
        return _describe_zip(data)
    for parts, what in _MAGIC:
        if all(data.startswith(signature, offset) for offset, signature in parts):
            return what
    return None


def _describe_zip(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "a ZIP archive"
    if "word/document.xml" in names:
        return _WORD_DOCUMENT
    if "xl/workbook.xml" in names:
        return "an Excel workbook"
    if "ppt/presentation.xml" in names:
        return "a PowerPoint presentation"
    if "mimetype" in names and "content.xml" in names:
        return "an OpenDocument file"
    return "a ZIP archive"
