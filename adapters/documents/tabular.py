"""CSV and TSV tables: each row becomes one self-describing line, "col1: v1; col2: v2".

The dialect (delimiter and quoting) is sniffed from a sample with ``csv.Sniffer``; ``.tsv``
and ``.tab`` files are tab-separated. The first row is taken as the header unless one of its
cells is a number, in which case columns are called "column 1", "column 2"... Empty cells are
left out of a row's line, and line breaks inside a cell become spaces. Sections hold up to
``rows_per_section`` data rows, labelled "rows 1-200" (data rows, counted from 1).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from .collect import SectionCollector
from .errors import CorruptDocument, EmptyDocument
from .model import ParseLimits
from .normalize import collapse_spaces

_SNIFF_SAMPLE = 8 * 1024  # csv.Sniffer's regexes are quadratic at worst: keep this small
_DELIMITERS = ",;\t|"
_TAB_SEPARATED = (".tsv", ".tab")
_MAX_HEADER_NAME = 100


def parse_table(
    text: str, filename: str, extension: str, sink: SectionCollector, limits: ParseLimits
) -> None:
    """Add the rows of a decoded CSV/TSV document to ``sink``."""
    rows = _rows(text, filename, _dialect(text, extension))
    header = next(rows, None)
    if header is None:
        raise EmptyDocument(filename, reason="has no rows")
    first_row: list[str] | None = None
    if _looks_like_data(header):
        first_row, header = header, [f"column {i}" for i in range(1, len(header) + 1)]
    names = _column_names(header)

    lines: list[str] = []
    pending = 0
    first = number = 0
    for number, row in enumerate(_chain(first_row, rows), start=1):
        if not lines:
            first = number
            sink.check_time(f"row {number:,}")
        line = _render(row, names, sink, pending)
        lines.append(line)
        pending += len(line) + 1
        if len(lines) == limits.rows_per_section:
            sink.add(f"rows {first}-{number}", "\n".join(lines))
            lines.clear()
            pending = 0
    if lines:
        sink.add(f"rows {first}-{number}", "\n".join(lines))
    if number == 0:
        raise EmptyDocument(filename, reason="has a header row but no data rows")


def _dialect(text: str, extension: str) -> type[csv.Dialect] | csv.Dialect:
    if extension in _TAB_SEPARATED:
        return csv.excel_tab
    sample = text[:_SNIFF_SAMPLE]
    if len(text) > _SNIFF_SAMPLE and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
    except csv.Error:
        return csv.excel


def _rows(
    text: str, filename: str, dialect: type[csv.Dialect] | csv.Dialect
) -> Iterator[list[str]]:
    """The non-empty rows of the table; a malformed one raises ``CorruptDocument``."""
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                yield row
    except csv.Error as exc:
        raise CorruptDocument(
            filename, problem=f"line {reader.line_num:,} is not valid CSV ({exc})"
        ) from exc


def _chain(first: list[str] | None, rest: Iterator[list[str]]) -> Iterator[list[str]]:
    if first is not None:
        yield first
    yield from rest


def _looks_like_data(row: list[str]) -> bool:
    """A header row has no numbers in it; a row with one is data."""
    for cell in row:
        try:
            float(cell.replace(",", ""))
        except ValueError:
            continue
        return True
    return False


def _column_names(header: list[str]) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for index, cell in enumerate(header, start=1):
        name = collapse_spaces(cell)[:_MAX_HEADER_NAME] or f"column {index}"
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return names


def _render(row: list[str], names: list[str], sink: SectionCollector, pending: int) -> str:
    """One row as "name: value; name: value", checked against the text limit as it grows."""
    parts: list[str] = []
    size = pending
    for index, cell in enumerate(row):
        value = collapse_spaces(cell)
        if not value:
            continue
        name = names[index] if index < len(names) else f"column {index + 1}"
        parts.append(f"{name}: {value}")
        size += len(parts[-1]) + 2
        sink.check_room(size)
    return "; ".join(parts)
