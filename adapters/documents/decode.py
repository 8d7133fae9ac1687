"""Turn the bytes of a text-like upload into ``str``, or refuse them as not text.

Order: a byte-order mark wins; then UTF-16 without a BOM, recognised by its pattern of zero
bytes; then UTF-8 (by far the most common, and valid UTF-8 is almost never another encoding
by accident), also when only a stray byte or a cut-off last character is invalid; then an
encoding the file or upload declared (HTML ``<meta charset>``, a MIME ``charset=``); then
charset-normalizer's guess from a sample. NUL bytes in the first
few kilobytes of anything else mean binary data, as in git and grep.
"""

from __future__ import annotations

import codecs

import charset_normalizer

from .errors import NotText
from .normalize import unprintable_share

_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BINARY_SNIFF_BYTES = 8192
_DETECT_SAMPLE_BYTES = 64 * 1024
# More than this share of control characters or replacement marks and it is not text.
MAX_UNPRINTABLE_SHARE = 0.10
_WINDOWS_LATIN = "cp1252"
_ASCII = bytes(range(128))
_UTF8_ERROR_TOLERANCE = 10  # at most one bad sequence per this many non-ASCII bytes


def decode_text(data: bytes, filename: str, *, declared: str | None = None) -> str:
    """Decode ``data`` as text, or raise ``NotText`` if it is binary or mostly unreadable."""
    text = _decode(data, filename, declared)
    if unprintable_share(text) > MAX_UNPRINTABLE_SHARE:
        raise NotText(filename)
    return text


def looks_binary(data: bytes) -> bool:
    """True if ``data`` has NUL bytes early on and is not UTF-16/32 text (with or without a
    byte-order mark)."""
    if any(data.startswith(bom) for bom, _ in _BOMS):
        return False
    head = data[:_BINARY_SNIFF_BYTES]
    return b"\x00" in head and _utf16_without_bom(head) is None


def _decode(data: bytes, filename: str, declared: str | None) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    head = data[:_BINARY_SNIFF_BYTES]
    utf16 = _utf16_without_bom(head) if b"\x00" in head else None
    if utf16 is not None:  # checked before UTF-8, for which NUL bytes are valid
        try:
            return data.decode(utf16)
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lenient = _mostly_utf8(data)
    if lenient is not None:
        return lenient
    codec = _known_codec(declared)
    if codec is not None:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    if b"\x00" in head:
        raise NotText(filename)
    guess = _guess_encoding(_sample(data))
    if guess is None:
        raise NotText(filename)
    return data.decode(guess, errors="replace")


def _guess_encoding(sample: bytes) -> str | None:
    """charset-normalizer's guess, with two corrections for what people actually upload:
    among the cleanest decodings, old Mac OS encodings (rare today, but often ranked first
    for short Cyrillic text) yield to the others, and Windows-1252 wins a tie within the
    Latin family (same text except a few letters; 1252 is by far the most common)."""
    ranked = sorted(charset_normalizer.from_bytes(sample), key=lambda m: (m.chaos, -m.coherence))
    if not ranked:
        return None
    cleanest = [m for m in ranked if m.chaos == ranked[0].chaos]
    candidates = [m for m in cleanest if not m.encoding.startswith("mac_")] or cleanest
    best = candidates[0]
    for match in candidates:
        tied = (match.chaos, match.coherence) == (best.chaos, best.coherence)
        if tied and _WINDOWS_LATIN in match.could_be_from_charset:
            return _WINDOWS_LATIN
    return best.encoding


def _mostly_utf8(data: bytes) -> str | None:
    """``data`` decoded as UTF-8 with replacement marks, if only a few of its non-ASCII bytes
    are invalid (a stray byte, a character cut off at the end), else None."""
    high_bytes = len(data.translate(None, _ASCII))
    text = data.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd")
    return text if invalid * _UTF8_ERROR_TOLERANCE <= high_bytes else None


def _known_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip()).name
    except LookupError:
        return None


def _utf16_without_bom(head: bytes) -> str | None:
    """ "utf-16-le"/"utf-16-be" if ``head`` looks like mostly-ASCII UTF-16, else None."""
    if len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    even_zeros, odd_zeros = even.count(0), odd.count(0)
    if odd_zeros > 0.4 * len(odd) and even_zeros < 0.05 * len(even):
        return "utf-16-le"
    if even_zeros > 0.4 * len(even) and odd_zeros < 0.05 * len(odd):
        return "utf-16-be"
    return None


def _sample(data: bytes) -> bytes:
    """The first bytes of ``data``, cut at a line end so no character is split in two."""
    if len(data) <= _DETECT_SAMPLE_BYTES:
        return data
    sample = data[:_DETECT_SAMPLE_BYTES]
    cut = sample.rfind(b"\n")
    return sample[: cut + 1] if cut > 0 else sample
