"""Check a zip-based document before any library unpacks it: the zip-bomb guard.

The central directory says how large each member unpacks to. We refuse archives whose
members, together, would pass ``max_unzipped_bytes``, whose large members claim an absurd
compression ratio, or that hold more members than any real document. Then the XML members a
parser will read are unpacked once, in bounded chunks, to prove they are intact and no larger
than declared (CPython's zipfile also stops every member at its declared size, so a lying
header cannot make a later read run away).
"""

from __future__ import annotations

import io
import lzma
import zipfile
import zlib

from .errors import CorruptDocument, EncryptedDocument, SuspiciousArchive, human_size
from .model import ParseLimits

_RATIO_CHECK_FROM = 4 * 2**20  # smaller members may compress very well legitimately
_CHUNK = 2**20
_PARSED_SUFFIXES = (".xml", ".rels")


def check_zip(data: bytes, filename: str, limits: ParseLimits) -> dict[str, int]:
    """Raise ``SuspiciousArchive``/``CorruptDocument``/``EncryptedDocument`` for a bad archive;
    if it is safe to open, return its members' names and unpacked sizes."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            _check_sizes(infos, filename, limits)
            for info in infos:
                if info.flag_bits & 0x1:
                    raise EncryptedDocument(filename)
            for info in infos:
                if info.filename.lower().endswith(_PARSED_SUFFIXES):
                    _read_bounded(archive, info, filename)
            return {info.filename: info.file_size for info in infos}
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        lzma.LZMAError,
        EOFError,
        OSError,
        ValueError,
    ) as exc:
        raise CorruptDocument(
            filename, problem="its zip structure is damaged or the file is incomplete"
        ) from exc
    except NotImplementedError as exc:  # a compression method zipfile does not know
        raise CorruptDocument(filename, problem="it uses an unknown kind of compression") from exc


def _check_sizes(infos: list[zipfile.ZipInfo], filename: str, limits: ParseLimits) -> None:
    if len(infos) > limits.max_zip_members:
        raise SuspiciousArchive(
            filename,
            problem=f"it holds {len(infos):,} files inside (a real document has far fewer)",
        )
    total = sum(info.file_size for info in infos)
    if total > limits.max_unzipped_bytes:
        raise SuspiciousArchive(
            filename,
            problem=f"it would unpack to {human_size(total)}, over my limit of "
            f"{human_size(limits.max_unzipped_bytes)}",
        )
    for info in infos:
        if info.file_size < _RATIO_CHECK_FROM:
            continue
        ratio = info.file_size // max(info.compress_size, 1)
        if ratio > limits.max_zip_ratio:
            raise SuspiciousArchive(
                filename,
                problem=f"a part inside it is compressed {ratio:,} times over "
                f"({human_size(info.compress_size)} unpacking to {human_size(info.file_size)})",
            )


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, filename: str) -> None:
    """Unpack one member in chunks, refusing it if it yields more than it declared."""
    produced = 0
    with archive.open(info) as member:
        while chunk := member.read(_CHUNK):
            produced += len(chunk)
            if produced > info.file_size:
                raise SuspiciousArchive(
                    filename, problem="a part inside it unpacks to more than it declares"
                )
