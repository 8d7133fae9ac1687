"""Builders for real test files (PDF, DOCX, PNG, zip bombs), generated at test time.

PDFs are written with fpdf2 and encrypted with pypdf; Word files with python-docx; zip bombs
with zipfile. Nothing binary is committed.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Sequence

import docx
import pypdf
from docx.document import Document as WordDocument
from fpdf import FPDF


def pdf_bytes(pages: Sequence[str]) -> bytes:
    """A PDF with one page per string; each line of a string is one line of text."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        for number, line in enumerate(text.splitlines()):
            pdf.text(15, 20 + number * 6, line)
    return bytes(pdf.output())


def image_only_pdf(pages: int = 2) -> bytes:
    """A PDF whose pages hold only drawings, as a scan would hold only images."""
    pdf = FPDF()
    for _ in range(pages):
        pdf.add_page()
        pdf.rect(20, 20, 100, 60, style="F")
    return bytes(pdf.output())


def encrypted_pdf(pages: Sequence[str], user_password: str, owner_password: str = "owner") -> bytes:
    """``pdf_bytes(pages)`` encrypted with AES-256. An empty user password gives a PDF any
    viewer opens without asking (permissions-only protection)."""
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf_bytes(pages))))
    writer.encrypt(user_password, owner_password=owner_password, algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes() -> bytes:
    """A Word document with a title, nested headings, a bulleted list and a table."""
    document = docx.Document()
    document.add_paragraph("Before any heading.")
    document.add_heading("Introduction", level=1)
    document.add_paragraph("Pagemind remembers what you upload.")
    document.add_heading("Setup", level=2)
    document.add_paragraph("Install the package.")
    document.add_paragraph("first step", style="List Bullet")
    document.add_paragraph("second step", style="List Bullet")
    document.add_heading("Usage", level=1)
    table = document.add_table(rows=3, cols=2)
    people = [("Name", "Age"), ("Ada", "36"), ("Alan", "41")]
    for row, (name, age) in zip(table.rows, people, strict=True):
        row.cells[0].text = name
        row.cells[1].text = age
    merged = document.add_table(rows=1, cols=3)
    merged.rows[0].cells[0].merge(merged.rows[0].cells[1]).text = "wide"
    merged.rows[0].cells[2].text = "narrow"
    return _save(document)


def empty_docx() -> bytes:
    """A valid Word document with no text."""
    return _save(docx.Document())


def _save(document: WordDocument) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zip_bomb_docx(member_bytes: int = 64 * 2**20) -> bytes:
    """A real .docx with an extra member of ``member_bytes`` zeros, compressed about
    1000:1, streamed into the archive so the test never holds it whole."""
    out = io.BytesIO(docx_bytes())
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("word/media/padding.bin", "w", force_zip64=True) as member:
            chunk = bytes(2**20)
            for _ in range(member_bytes // len(chunk)):
                member.write(chunk)
    return out.getvalue()


def docx_with_extra_members(count: int) -> bytes:
    """A real .docx with ``count`` extra tiny members."""
    out = io.BytesIO(docx_bytes())
    with zipfile.ZipFile(out, "a") as archive:
        for index in range(count):
            archive.writestr(f"customXml/item{index}.txt", b"x")
    return out.getvalue()


def docx_with_understated_size() -> bytes:
    """A .docx whose word/document.xml claims, in both its headers, to be 100 bytes long."""
    data = bytearray(docx_bytes())
    name = b"word/document.xml"
    for signature, size_offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(signature, start)) != -1:
            name_length = struct.unpack_from("<H", data, start + size_offset + 4)[0]
            name_start = start + size_offset + (8 if signature == b"PK\x03\x04" else 22)
            if data[name_start : name_start + name_length] == name:
                struct.pack_into("<I", data, start + size_offset, 100)
            start += 4
    return bytes(data)


def xlsx_like_zip() -> bytes:
    """A zip with an Excel workbook's main part (enough for format detection)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return out.getvalue()


def png_bytes() -> bytes:
    """A valid 1x1 black PNG image."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def ole2_encrypted_office_file() -> bytes:
    """The first bytes of a password-protected Office file: Office stores an encrypted .docx
    as an OLE2 compound file with an "EncryptedPackage" stream. (Enough for detection; a full
    compound file would need a writer we do not otherwise need.)"""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    directory = "EncryptionInfo".encode("utf-16-le") + bytes(50)
    directory += "EncryptedPackage".encode("utf-16-le") + bytes(50)
    return header + directory + bytes(1024)


def ole2_word97_file() -> bytes:
    """The first bytes of an old Word 97-2003 (.doc) file."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    return header + "WordDocument".encode("utf-16-le") + bytes(1024)
