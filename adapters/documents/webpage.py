"""HTML pages, parsed with lxml's HTML parser (libxml2): sections by h1-h3.

The bytes are decoded first (BOM, UTF-8, ``<meta charset>``, detection) and handed to lxml as
UTF-8, so a wrong or missing declaration cannot garble the text. Scripts, styles, navigation,
embedded objects, form controls and hidden elements are dropped. Block elements become
paragraphs, ``<br>`` a line break, list items "- " bullets, table rows lines of cells joined by
" | ", and ``<pre>`` keeps its whitespace. h1-h3 start sections labelled by the heading path;
text before the first heading is labelled with the page's ``<title>``.

lxml is already required by python-docx, is far faster than the pure-Python parsers, and its
walk here is iterative, so neither size nor nesting can exhaust the stack. libxml2 stops at
256 levels of nesting; we refuse such a page rather than silently lose what follows.
"""

from __future__ import annotations

import re

import lxml.etree
import lxml.html

from .collect import SectionCollector
from .decode import decode_text
from .errors import CorruptDocument, EmptyDocument
from .normalize import collapse_spaces

_DROPPED = frozenset(
    (
        "head",
        "script",
        "style",
        "nav",
        "noscript",
        "template",
        "svg",
        "math",
        "iframe",
        "object",
        "embed",
        "canvas",
        "select",
        "button",
        "input",
    )
)
_BLOCKS = frozenset(
    (
        *("address", "article", "aside", "blockquote", "body", "caption", "dd", "details"),
        *("dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form"),
        *("h4", "h5", "h6", "header", "hr", "html", "legend", "li", "main", "ol", "p", "pre"),
        *("section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul"),
    )
)
_LINES = frozenset(("tr", "li", "dt", "dd"))  # blocks that start a line, not a paragraph
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3}
_CELLS = frozenset(("td", "th"))
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_TIME_CHECK_EVERY = 5_000  # elements


def parse_html(
    data: bytes, filename: str, sink: SectionCollector, *, charset: str | None = None
) -> None:
    """Add the sections of an HTML page to ``sink``."""
    declared = charset or _meta_charset(data)
    text = decode_text(data, filename, declared=declared)
    if not text.strip():
        raise EmptyDocument(filename, reason="is empty")
    parser = lxml.html.HTMLParser(
        encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True
    )
    try:
        root = lxml.html.document_fromstring(text.encode("utf-8", "replace"), parser=parser)
    except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError) as exc:
        raise EmptyDocument(filename, reason="has no readable content") from exc
    if any(error.level_name == "FATAL" for error in parser.error_log):
        raise CorruptDocument(
            filename, problem="its tags are nested too deeply for me to follow (over 255 levels)"
        )
    _Walker(sink, _title(root)).walk(root)


def _meta_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii") if match else None


def _title(root: lxml.html.HtmlElement) -> str | None:
    title = root.find(".//title")
    text = collapse_spaces(title.text_content()) if title is not None else ""
    return text or None


def _is_hidden(element: lxml.html.HtmlElement) -> bool:
    attributes = element.attrib
    return (
        "hidden" in attributes
        or attributes.get("aria-hidden") == "true"
        or bool(_HIDDEN_STYLE.search(attributes.get("style", "")))
    )


class _Walker:
    """Walks the tree once, without recursion, writing text and cutting sections."""

    def __init__(self, sink: SectionCollector, title: str | None) -> None:
        self._sink = sink
        self._title = title
        self._headings: list[tuple[int, str]] = []
        self._parts: list[str] = []
        self._pending = 0
        self._newlines = 2  # line breaks ending the text so far; 2 = a paragraph starts here
        self._pre_depth = 0

    def walk(self, root: lxml.html.HtmlElement) -> None:
        walker = lxml.etree.iterwalk(root, events=("start", "end"))
        for count, (event, element) in enumerate(walker):
            if count % _TIME_CHECK_EVERY == 0:
                self._sink.check_time(f"element {count // 2:,} of the page")
            tag = element.tag if isinstance(element.tag, str) else ""
            skipped = tag in _DROPPED or tag in _HEADINGS or _is_hidden(element)
            if event == "start":
                if skipped:
                    walker.skip_subtree()
                    if tag in _HEADINGS and not _is_hidden(element):
                        self._heading(_HEADINGS[tag], element)
                    continue
                self._open(tag)
                self._text(element.text)
            else:
                if not skipped:
                    self._close(tag)
                self._text(element.tail)
        self._flush()

    def _open(self, tag: str) -> None:
        if tag in _BLOCKS:
            self._break(paragraph=tag not in _LINES)
        if tag == "pre":
            self._pre_depth += 1
        elif tag == "li":
            self._write("- ")
        elif tag in _CELLS and not self._newlines:
            self._write(" | ")

    def _close(self, tag: str) -> None:
        if tag == "pre":
            self._pre_depth -= 1
        if tag == "br":
            self._break(paragraph=False)
        elif tag in _BLOCKS:
            self._break(paragraph=tag not in _LINES)

    def _heading(self, level: int, element: lxml.html.HtmlElement) -> None:
        text = collapse_spaces(element.text_content())
        if not text:
            return
        self._flush()
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, text))

    def _text(self, text: str | None) -> None:
        if not text:
            return
        if self._pre_depth:
            self._write(text)
            self._newlines = len(text) - len(text.rstrip("\n"))
            return
        collapsed = re.sub(r"\s+", " ", text)
        if self._newlines or (self._parts and self._parts[-1].endswith(" ")):
            collapsed = collapsed.lstrip(" ")
        if collapsed:
            self._write(collapsed)

    def _write(self, text: str) -> None:
        self._parts.append(text)
        self._newlines = 0
        self._pending += len(text)
        self._sink.check_room(self._pending)

    def _break(self, *, paragraph: bool) -> None:
        wanted = 2 if paragraph else 1
        if self._newlines < wanted:
            self._parts.append("\n" * (wanted - self._newlines))
            self._newlines = wanted

    def _flush(self) -> None:
        label = " > ".join(text for _, text in self._headings) or self._title
        self._sink.add(label, "".join(self._parts))
        self._parts.clear()
        self._pending = 0
        self._newlines = 2
