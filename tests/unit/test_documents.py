"""The file-parsing layer: real files of each format in, labelled clean text out, and a
clear, user-facing error for every kind of bad input."""

from __future__ import annotations

import asyncio
import hashlib
import json
import pickle
import random

import pytest

from adapters.documents import (
    CorruptDocument,
    DocumentError,
    EmptyDocument,
    EncryptedDocument,
    FileTooLarge,
    NotText,
    ParsedDocument,
    ParseLimits,
    Section,
    SuspiciousArchive,
    UnsupportedFileType,
    parse_document,
)
from tests.support import files


def labels(doc: ParsedDocument) -> list[str | None]:
    return [section.label for section in doc.sections]


def section(doc: ParsedDocument, label: str | None) -> str:
    return next(s.text for s in doc.sections if s.label == label)


def random_bytes(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


# --- PDF ---------------------------------------------------------------------------------


def test_pdf_gives_one_section_per_page() -> None:
    data = files.pdf_bytes(["First page\nsecond line", "Second page text", "Third, café"])
    doc = parse_document(data, "report.pdf")
    assert doc.kind == "pdf"
    assert doc.pages == 3
    assert labels(doc) == ["page 1", "page 2", "page 3"]
    assert section(doc, "page 1") == "First page\nsecond line"
    assert section(doc, "page 3") == "Third, café"
    assert doc.sha256 == hashlib.sha256(data).hexdigest()


def test_pdf_pages_without_text_are_left_out() -> None:
    data = files.pdf_bytes(["One", "", "Three"])
    assert labels(parse_document(data, "gaps.pdf")) == ["page 1", "page 3"]


def test_pdf_with_no_text_layer_is_empty_and_says_it_looks_scanned() -> None:
    with pytest.raises(EmptyDocument, match="no text layer") as caught:
        parse_document(files.image_only_pdf(), "scan.pdf")
    assert "scanned" in str(caught.value)
    assert "OCR" in str(caught.value)


def test_password_protected_pdf_is_refused() -> None:
    data = files.encrypted_pdf(["Top secret"], user_password="hunter2")
    with pytest.raises(EncryptedDocument, match="password-protected") as caught:
        parse_document(data, "secret.pdf")
    assert '"secret.pdf"' in str(caught.value)


def test_pdf_encrypted_with_an_empty_user_password_is_read() -> None:
    data = files.encrypted_pdf(["Permissions only"], user_password="")
    assert section(parse_document(data, "locked.pdf"), "page 1") == "Permissions only"


def test_truncated_pdf_is_corrupt() -> None:
    data = files.pdf_bytes(["Page one", "Page two", "Page three"])
    with pytest.raises(CorruptDocument, match="cut off") as caught:
        parse_document(data[: len(data) * 6 // 10], "cut.pdf")
    assert '"cut.pdf"' in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_pdf_with_a_broken_body_is_corrupt() -> None:
    data = b"%PDF-1.7\n" + random_bytes(5000) + b"\n%%EOF\n"
    with pytest.raises(CorruptDocument, match="damaged"):
        parse_document(data, "broken.pdf")


def test_pdf_extension_on_something_else_is_corrupt_and_says_what_it_is() -> None:
    with pytest.raises(CorruptDocument, match="a PNG image, not a PDF"):
        parse_document(files.png_bytes(), "photo.pdf")


def test_page_limit() -> None:
    data = files.pdf_bytes(["a", "b", "c", "d"])
    with pytest.raises(FileTooLarge, match="has 4 pages, and I can read up to 3 pages"):
        parse_document(data, "long.pdf", limits=ParseLimits(max_pages=3))


def test_a_long_pdf_gives_one_section_per_page_in_order() -> None:
    """How long a 200-page PDF takes is measured in ``bench/uploads.py``."""
    line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor."
    pages = ["\n".join(f"{p}.{n} {line}" for n in range(1, 41)) for p in range(1, 61)]
    doc = parse_document(files.pdf_bytes(pages), "book.pdf")
    assert doc.pages == 60
    assert labels(doc) == [f"page {p}" for p in range(1, 61)]
    assert section(doc, "page 60").startswith("60.1 Lorem ipsum")
    assert section(doc, "page 60").endswith(f"60.40 {line}")


# --- Word --------------------------------------------------------------------------------


def test_docx_sections_follow_the_heading_path() -> None:
    doc = parse_document(files.docx_bytes(), "guide.docx")
    assert doc.kind == "docx"
    assert doc.pages is None
    assert labels(doc) == [None, "Introduction", "Introduction > Setup", "Usage"]
    assert section(doc, None) == "Before any heading."
    assert section(doc, "Introduction") == "Pagemind remembers what you upload."
    assert section(doc, "Introduction > Setup") == (
        "Install the package.\n\n- first step\n\n- second step"
    )


def test_docx_tables_become_rows_of_cells() -> None:
    usage = section(parse_document(files.docx_bytes(), "guide.docx"), "Usage")
    assert usage == "Name | Age\nAda | 36\nAlan | 41\n\nwide | narrow"


def test_docx_without_text_is_empty() -> None:
    with pytest.raises(EmptyDocument, match=r'"blank\.docx" has no text'):
        parse_document(files.empty_docx(), "blank.docx")


def test_random_bytes_named_docx_are_corrupt() -> None:
    with pytest.raises(CorruptDocument, match="isn't a real Word document") as caught:
        parse_document(random_bytes(4096), "letter.docx")
    assert '"letter.docx"' in str(caught.value)


def test_docx_whose_zip_is_cut_off_is_corrupt() -> None:
    data = files.docx_bytes()
    with pytest.raises(CorruptDocument, match="zip structure is damaged"):
        parse_document(data[: len(data) // 2], "half.docx")


def test_zip_bomb_docx_is_refused_before_it_is_unpacked() -> None:
    data = files.zip_bomb_docx()
    assert len(data) < 2**20  # 64 MiB of zeros inside
    with pytest.raises(SuspiciousArchive, match="zip bomb") as caught:
        parse_document(data, "bomb.docx")
    assert "compressed 1,0" in str(caught.value)  # about 1000 times over


def test_docx_unpacking_past_the_total_limit_is_refused() -> None:
    limits = ParseLimits(max_unzipped_bytes=10_000)
    with pytest.raises(SuspiciousArchive, match="would unpack to"):
        parse_document(files.docx_bytes(), "big.docx", limits=limits)


def test_docx_with_more_text_than_allowed_is_too_large() -> None:
    limits = ParseLimits(max_docx_xml_bytes=1_000)
    with pytest.raises(FileTooLarge, match="more text than I can take in at once"):
        parse_document(files.docx_bytes(), "tome.docx", limits=limits)


def test_docx_with_absurdly_many_parts_is_refused() -> None:
    data = files.docx_with_extra_members(50)
    with pytest.raises(SuspiciousArchive, match="files inside"):
        parse_document(data, "many.docx", limits=ParseLimits(max_zip_members=40))


def test_docx_member_larger_than_it_declares_is_caught_by_a_bounded_read() -> None:
    with pytest.raises(CorruptDocument, match="zip structure is damaged"):
        parse_document(files.docx_with_understated_size(), "liar.docx")


def test_old_word_file_under_docx_name_gets_save_as_advice() -> None:
    with pytest.raises(UnsupportedFileType, match=r"old-style Word \(.doc\)") as caught:
        parse_document(files.ole2_word97_file(), "old.docx")
    assert "save it as .docx" in str(caught.value)


def test_password_protected_docx_is_refused() -> None:
    with pytest.raises(EncryptedDocument, match="password-protected"):
        parse_document(files.ole2_encrypted_office_file(), "locked.docx")


def test_spreadsheet_under_docx_name_is_unsupported_with_advice() -> None:
    with pytest.raises(UnsupportedFileType, match=r"Excel workbook\. Export the sheet as CSV"):
        parse_document(files.xlsx_like_zip(), "sheet.docx")


# --- HTML --------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head><title>Pagemind docs</title><style>p { color: red }</style>
<script>var secret = "do not index";</script></head>
<body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<p>Welcome to the <b>docs</b>.</p>
<h1>Install</h1>
<p>Run the installer.<br>Then restart.</p>
<h2>Linux</h2>
<ul><li>Debian</li><li>Fedora <i>40</i></li></ul>
<h3>Notes</h3>
<table><tr><th>Distro</th><th>Status</th></tr><tr><td>Debian</td><td>ok</td></tr></table>
<h2>Windows</h2>
<pre>  indented
    code</pre>
<div hidden>invisible</div><noscript>enable js</noscript>
<h1>Use</h1><p>Chat with it.</p>
</body></html>"""


def test_html_sections_by_headings_without_boilerplate() -> None:
    doc = parse_document(PAGE.encode(), "docs.html")
    assert doc.kind == "html"
    assert labels(doc) == [
        "Pagemind docs",
        "Install",
        "Install > Linux",
        "Install > Linux > Notes",
        "Install > Windows",
        "Use",
    ]
    assert section(doc, "Pagemind docs") == "Welcome to the docs."
    assert section(doc, "Install") == "Run the installer.\nThen restart."
    assert section(doc, "Install > Linux") == "- Debian\n- Fedora 40"
    assert section(doc, "Install > Linux > Notes") == "Distro | Status\nDebian | ok"
    assert section(doc, "Install > Windows") == "  indented\n    code"
    everything = " ".join(s.text for s in doc.sections)
    for dropped in ("secret", "color", "Home", "invisible", "enable js"):
        assert dropped not in everything


def test_html_charset_comes_from_meta() -> None:
    page = '<html><head><meta charset="windows-1252"></head><body><p>Crème brûlée</p></body>'
    doc = parse_document(page.encode("cp1252"), "menu.htm")
    assert section(doc, None) == "Crème brûlée"


def test_html_with_utf16_byte_order_mark() -> None:
    page = "<html><body><h1>Título</h1><p>Olá</p></body></html>"
    doc = parse_document(page.encode("utf-16"), "pt.html")
    assert section(doc, "Título") == "Olá"


def test_html_nested_too_deeply_is_refused_not_silently_cut() -> None:
    page = "<html><body>" + "<div>" * 1000 + "deep" + "</div>" * 1000 + "<p>after</p>"
    with pytest.raises(CorruptDocument, match="nested too deeply"):
        parse_document(page.encode(), "deep.html")


def test_html_without_visible_text_is_empty() -> None:
    page = "<html><head><script>x()</script></head><body><nav>menu</nav></body></html>"
    with pytest.raises(EmptyDocument):
        parse_document(page.encode(), "blank.html")


# --- Markdown and plain text ---------------------------------------------------------------

README = """---
title: Pagemind
---
Intro line.

# Install

Get it with pip.

```bash
# this is a comment, not a heading
pip install pagemind
```

## Linux
Works everywhere.

Configure
---------
Set the token.

# Usage ##
Talk to it.
"""


def test_markdown_sections_by_heading_path_keep_code_blocks_whole() -> None:
    doc = parse_document(README.encode(), "README.md")
    assert doc.kind == "markdown"
    assert labels(doc) == [None, "Install", "Install > Linux", "Install > Configure", "Usage"]
    assert section(doc, None) == "---\ntitle: Pagemind\n---\nIntro line."
    assert section(doc, "Install") == (
        "Get it with pip.\n\n```bash\n# this is a comment, not a heading\npip install pagemind\n```"
    )
    assert section(doc, "Usage") == "Talk to it."


def test_long_headings_make_short_one_line_labels() -> None:
    doc = parse_document(("# " + "word " * 100 + "\nbody").encode(), "long.md")
    (label,) = labels(doc)
    assert label is not None
    assert len(label) == 200
    assert label.endswith("word…")


def test_plain_text_is_one_unlabelled_section_normalised() -> None:
    raw = "Cafe\u0301 notes\r\n\r\n\r\n\r\nline two  \x07\x00\n\tindented\n"
    doc = parse_document(raw.encode(), "notes.txt")
    assert doc.kind == "text"
    assert doc.sections == (Section(label=None, text="Café notes\n\nline two\n\tindented"),)


def test_form_feeds_split_plain_text_into_pages() -> None:
    doc = parse_document(b"first page\fsecond page\f", "dump.txt")
    assert labels(doc) == ["page 1", "page 2"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Привет, мир! Как дела? Это проверка.\n".encode("cp1251") * 20, "Привет, мир!"),
        ("Größe und Bär über Straße.\n".encode("cp1252") * 10, "Größe und Bär"),
        ("utf-8 with BOM ✓".encode("utf-8-sig"), "utf-8 with BOM ✓"),
        ("utf-16 with BOM ✓".encode("utf-16"), "utf-16 with BOM ✓"),
        ("utf-16 without a BOM".encode("utf-16-le"), "utf-16 without a BOM"),
    ],
)
def test_text_encodings_are_detected(raw: bytes, expected: str) -> None:
    assert parse_document(raw, "encoded.txt").sections[0].text.startswith(expected)


def test_unknown_extension_with_text_is_read_as_text() -> None:
    doc = parse_document(b"plain words", "LICENSE")
    assert doc.kind == "text"


# --- CSV ---------------------------------------------------------------------------------


def test_csv_rows_are_self_describing_lines_in_labelled_sections() -> None:
    rows = ["id,name,city"] + [f"{i},person {i},Paris" for i in range(1, 451)]
    doc = parse_document("\n".join(rows).encode(), "people.csv")
    assert doc.kind == "csv"
    assert labels(doc) == ["rows 1-200", "rows 201-400", "rows 401-450"]
    first = section(doc, "rows 1-200").splitlines()
    assert first[0] == "id: 1; name: person 1; city: Paris"
    assert len(first) == 200


def test_csv_dialect_is_sniffed_and_empty_cells_left_out() -> None:
    data = b'name;note\n"Smith; John";"multi\nline"\nAda;\n'
    doc = parse_document(data, "semi.csv")
    assert section(doc, "rows 1-2") == "name: Smith; John; note: multi line\nname: Ada"


def test_tsv_and_headerless_numeric_tables() -> None:
    doc = parse_document(b"1\t2.5\n3\t4\n", "numbers.tsv")
    assert section(doc, "rows 1-2") == "column 1: 1; column 2: 2.5\ncolumn 1: 3; column 2: 4"


def test_csv_with_only_a_header_is_empty() -> None:
    with pytest.raises(EmptyDocument, match="header row but no data rows"):
        parse_document(b"a,b,c\n", "header.csv")


def test_csv_with_an_oversized_field_is_corrupt() -> None:
    data = b"a,b\n1," + b"x" * 200_000 + b"\n"
    with pytest.raises(CorruptDocument, match="line 2 is not valid CSV"):
        parse_document(data, "huge-cell.csv")


def test_text_limit_stops_a_table_that_expands_too_much() -> None:
    header = ",".join(f"a rather long column name {i}" for i in range(50))
    rows = "\n".join(",".join("1" for _ in range(50)) for _ in range(100))
    data = f"{header}\n{rows}".encode()
    with pytest.raises(FileTooLarge, match="more text than I can take in"):
        parse_document(data, "wide.csv", limits=ParseLimits(max_chars=50_000))


# --- JSON --------------------------------------------------------------------------------


def test_json_object_sections_by_top_level_key() -> None:
    value = {
        "name": "pagemind",
        "version": "0.1",
        "settings": {"llm": {"model": "gpt", "temperature": 0.2}, "tags": ["a", "b"]},
        "users": [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Alan", "extra": None}],
        "empty": {},
    }
    doc = parse_document(json.dumps(value).encode(), "config.json")
    assert doc.kind == "json"
    assert labels(doc) == [None, "settings", "users > records 1-2", None]
    assert doc.sections[0].text == "name: pagemind\nversion: 0.1"
    assert section(doc, "settings") == (
        "settings.llm.model: gpt\nsettings.llm.temperature: 0.2\n"
        "settings.tags[0]: a\nsettings.tags[1]: b"
    )
    assert (
        section(doc, "users > records 1-2") == "id: 1\nname: Ada\n\nid: 2\nname: Alan\nextra: null"
    )
    assert doc.sections[3].text == "empty: {}"


def test_json_lines_become_records() -> None:
    data = b'{"event": "login", "user": "ada"}\n\n{"event": "logout", "user": "ada"}\n'
    doc = parse_document(data, "events.jsonl")
    assert section(doc, "records 1-2") == "event: login\nuser: ada\n\nevent: logout\nuser: ada"


def test_invalid_json_says_where() -> None:
    with pytest.raises(CorruptDocument, match=r"not valid JSON \(.* at line 2, column 1\)"):
        parse_document(b'{"a": 1,\n}', "bad.json")


def test_invalid_json_line_says_which() -> None:
    with pytest.raises(CorruptDocument, match="line 2 is not valid JSON"):
        parse_document(b'{"a": 1}\n{oops}\n', "bad.jsonl")


def test_json_nested_beyond_the_depth_limit_is_shown_compactly() -> None:
    value: object = {"leaf": 1}
    for _ in range(40):
        value = {"k": value}
    doc = parse_document(json.dumps(value).encode(), "deep.json")
    text = section(doc, "k")
    assert text.startswith("k." + "k." * 30 + "k: {")
    assert text.endswith('{"leaf":1}' + "}" * 8)


def test_json_nested_past_the_recursion_limit_is_corrupt() -> None:
    with pytest.raises(CorruptDocument, match="nested too deeply"):
        parse_document(b"[" * 100_000 + b"]" * 100_000, "abyss.json")


# --- Source code -------------------------------------------------------------------------

PYTHON = '''"""A module."""
import os


# Helpers below.
@decorator
def parse_header(line):
    return line.split(":")


class Reader:
    def read(self):
        return os.read(0, 10)


async def main():
    pass
'''


def test_python_sections_by_top_level_definitions() -> None:
    doc = parse_document(PYTHON.encode(), "reader.py")
    assert doc.kind == "code"
    assert labels(doc) == [None, "function parse_header", "class Reader", "function main"]
    assert section(doc, "function parse_header").startswith("# Helpers below.\n@decorator\ndef")
    assert section(doc, "class Reader").endswith("        return os.read(0, 10)")


def test_other_languages_split_by_regex() -> None:
    go = b"package main\n\n// Run runs.\nfunc Run() {}\n\nfunc (s *Server) Serve() {}\n"
    assert labels(parse_document(go, "main.go")) == [None, "function Run", "function Serve"]
    js = b"import x from 'x';\nexport async function load() {}\nconst go = async () => 1;\n"
    assert labels(parse_document(js, "app.js")) == [None, "function load", "function go"]
    sql = b"CREATE TABLE IF NOT EXISTS users (id int);\nCREATE INDEX ix ON users (id);\n"
    assert labels(parse_document(sql, "schema.sql")) == ["table users", "index ix"]


def test_code_without_definitions_is_one_section_kept_as_is() -> None:
    doc = parse_document(b"print('hi')\n\n    x = 1\n", "script.lua")
    assert doc.sections == (Section(label=None, text="print('hi')\n\n    x = 1"),)


# --- Detection and refusals ----------------------------------------------------------------


def test_unsupported_extension_names_it_and_lists_what_i_can_read() -> None:
    with pytest.raises(UnsupportedFileType) as caught:
        parse_document(b"MZ\x90\x00" + bytes(200), "setup.exe")
    assert str(caught.value) == (
        "I can't read .exe files. I can read PDF, Word (.docx), HTML, Markdown, plain text, "
        "CSV, JSON and source code files."
    )


def test_binary_without_a_known_extension_is_unsupported() -> None:
    with pytest.raises(UnsupportedFileType, match='"blob"'):
        parse_document(b"\x00\x01\x02\x03" + random_bytes(100), "blob")


def test_missing_extension_is_sniffed_from_content() -> None:
    assert parse_document(files.pdf_bytes(["Sniffed"]), "download").kind == "pdf"
    assert parse_document(files.docx_bytes(), "attachment").kind == "docx"
    assert parse_document(b"<!DOCTYPE html><p>hi</p>", "page").kind == "html"


def test_mime_type_is_a_hint_for_unknown_extensions() -> None:
    doc = parse_document(b"# Title\nbody", "upload", mime="text/markdown; charset=utf-8")
    assert doc.kind == "markdown"
    assert labels(doc) == ["Title"]


def test_png_renamed_txt_is_not_text() -> None:
    with pytest.raises(NotText, match="actually a PNG image") as caught:
        parse_document(files.png_bytes(), "notes.txt")
    assert '"notes.txt"' in str(caught.value)


def test_zip_and_pdf_renamed_as_text_are_not_text() -> None:
    with pytest.raises(NotText, match="actually a Word document"):
        parse_document(files.docx_bytes(), "notes.md")
    with pytest.raises(NotText, match="actually a PDF document"):
        parse_document(files.pdf_bytes(["x"]), "data.csv")


def test_mostly_unprintable_text_is_not_text() -> None:
    with pytest.raises(NotText, match="mostly binary data or control characters"):
        parse_document(bytes(range(1, 32)) * 50 + b"some words", "weird.txt")


def test_binary_noise_with_text_extension_is_not_text() -> None:
    with pytest.raises(NotText):
        parse_document(random_bytes(10_000), "noise.log")


@pytest.mark.parametrize("data", [b"", b"   \n\t\n"])
def test_empty_file_is_empty(data: bytes) -> None:
    with pytest.raises(EmptyDocument, match=r'"empty\.txt" is empty'):
        parse_document(data, "empty.txt")


def test_twenty_megabyte_limit_is_enforced_before_parsing() -> None:
    data = random_bytes(20 * 2**20 + 1)  # would be a CorruptDocument if it were parsed
    with pytest.raises(FileTooLarge) as caught:
        parse_document(data, "huge.pdf")
    assert str(caught.value) == (
        '"huge.pdf" is just over 20 MB, and I can read files of up to 20 MB. '
        "Try splitting it into smaller files."
    )


def test_size_limit_boundary() -> None:
    assert parse_document(b"x" * 100, "ok.txt", max_bytes=100).sections[0].text == "x" * 100
    with pytest.raises(FileTooLarge, match="101 bytes"):
        parse_document(b"x" * 101, "big.txt", max_bytes=100)


def test_time_budget_gives_up_with_a_clear_message() -> None:
    data = files.pdf_bytes(["one", "two"])
    with pytest.raises(FileTooLarge, match=r"taking too long to read.*at page 1 of 2"):
        parse_document(data, "slow.pdf", limits=ParseLimits(max_seconds=-1))


def test_file_name_is_reduced_to_a_safe_base_name() -> None:
    doc = parse_document(b"hi", "../../etc/\x1b[31mpass\u202ewd.txt")
    assert doc.filename == "[31mpasswd.txt"
    with pytest.raises(EmptyDocument, match=r'^"a\.txt" is empty'):
        parse_document(b"", "C:\\Users\\me\\a.txt")


def test_errors_are_pagemind_errors_and_survive_pickling() -> None:
    with pytest.raises(DocumentError) as caught:
        parse_document(files.png_bytes(), "image.txt")
    error = caught.value
    assert isinstance(error, NotText)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is NotText
    assert str(copy) == str(error)
    assert copy.filename == "image.txt"


async def test_runs_in_a_worker_thread() -> None:
    doc = await asyncio.to_thread(parse_document, b"# Hi\nthere", "hi.md")
    assert doc.sections == (Section(label="Hi", text="there"),)
