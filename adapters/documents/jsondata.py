"""JSON and JSON Lines, flattened to self-describing "path.to.key: value" lines.

A top-level array (or a JSON Lines file) is a list of records: each record becomes a block of
lines (paths relative to the record), blocks are separated by blank lines, and sections hold
up to ``rows_per_section`` records, labelled "records 1-200". A top-level object becomes one
section per key whose value is an object or array (labelled by the key; an array of records
is split as above, "key > records 1-200"); its scalar keys are gathered, in order, into
unlabelled sections between them. Values nested deeper than ``max_json_depth`` are shown as
compact JSON. The walk is iterative, so nesting cannot exhaust the stack.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from .collect import SectionCollector
from .errors import CorruptDocument, EmptyDocument
from .model import ParseLimits
from .normalize import collapse_spaces

_LINES_EXTENSIONS = (".jsonl", ".ndjson")
_MAX_DEEP_VALUE = 1_000  # characters of compact JSON shown for a too-deep value


def parse_json(
    text: str, filename: str, extension: str, sink: SectionCollector, limits: ParseLimits
) -> None:
    """Add the sections of a decoded JSON or JSON Lines document to ``sink``."""
    if not text.strip():
        raise EmptyDocument(filename, reason="is empty")
    if extension in _LINES_EXTENSIONS:
        _Flattener(sink, limits).records(None, _json_lines(text, filename), depth=0)
        return
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several documents, one per line: JSON Lines after all
            _Flattener(sink, limits).records(None, _json_lines(text, filename), depth=0)
            return
        raise _invalid(filename, exc) from exc
    except RecursionError as exc:
        raise CorruptDocument(filename, problem="it is nested too deeply to read") from exc
    except ValueError as exc:  # e.g. an integer with more digits than Python will convert
        raise CorruptDocument(filename, problem="it holds a number too long to read") from exc
    flattener = _Flattener(sink, limits)
    if isinstance(value, dict):
        flattener.top_level_object(value)
    elif isinstance(value, list):
        flattener.records(None, value)
    else:
        sink.add(None, _scalar(value))


def _json_lines(text: str, filename: str) -> Iterator[Any]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorruptDocument(
                filename, problem=f"line {number:,} is not valid JSON ({exc.msg})"
            ) from exc
        except (RecursionError, ValueError) as exc:
            raise CorruptDocument(
                filename, problem=f"line {number:,} is nested too deeply or too long to read"
            ) from exc


def _invalid(filename: str, exc: json.JSONDecodeError) -> CorruptDocument:
    return CorruptDocument(
        filename,
        problem=f"it is not valid JSON ({exc.msg} at line {exc.lineno:,}, column {exc.colno:,})",
    )


class _Flattener:
    def __init__(self, sink: SectionCollector, limits: ParseLimits) -> None:
        self._sink = sink
        self._limits = limits

    def top_level_object(self, value: dict[str, Any]) -> None:
        scalars: list[str] = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                self._sink.add(None, "\n".join(scalars))
                scalars.clear()
                if isinstance(item, list) and all(isinstance(i, dict | list) for i in item):
                    self.records(key, item, depth=2)
                else:
                    self._sink.add(key, self._block(item, key, depth=1, pending=0))
            else:
                scalars.append(f"{_key_path('', key)}: {_scalar(item)}")
                self._sink.check_room(sum(len(line) + 1 for line in scalars))
        self._sink.add(None, "\n".join(scalars))

    def records(self, parent: str | None, items: Iterable[Any], *, depth: int = 1) -> None:
        """Sections of up to ``rows_per_section`` records; ``depth`` is the records' nesting
        level in the document, counted towards ``max_json_depth``."""
        prefix = f"{parent} > " if parent else ""
        size = self._limits.rows_per_section
        blocks: list[str] = []
        pending = 0
        first = number = 0
        for number, item in enumerate(items, start=1):
            if not blocks:
                first = number
                self._sink.check_time(f"record {number:,}")
            blocks.append(self._block(item, "", depth=depth, pending=pending))
            pending += len(blocks[-1]) + 2
            if len(blocks) == size:
                self._sink.add(f"{prefix}records {first}-{number}", "\n\n".join(blocks))
                blocks.clear()
                pending = 0
        if blocks:
            self._sink.add(f"{prefix}records {first}-{number}", "\n\n".join(blocks))

    def _block(self, value: Any, path: str, *, depth: int, pending: int) -> str:
        """``value`` flattened to lines, checked against the text limit as they grow."""
        lines: list[str] = []
        for line in _flatten(value, path, depth, self._limits.max_json_depth):
            lines.append(line)
            pending += len(line) + 1
            self._sink.check_room(pending)
        return "\n".join(lines)


def _flatten(value: Any, path: str, depth: int, max_depth: int) -> Iterator[str]:
    """Lines "path: scalar" for every leaf under ``value`` (found at nesting level ``depth``),
    in document order."""
    stack: list[tuple[str, Any, int]] = [(path, value, depth)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, dict) and value and depth < max_depth:
            children = [(_key_path(path, k), v, depth + 1) for k, v in value.items()]
            stack.extend(reversed(children))
        elif isinstance(value, list) and value and depth < max_depth:
            children = [(f"{path}[{i}]", v, depth + 1) for i, v in enumerate(value)]
            stack.extend(reversed(children))
        else:
            rendered = _scalar(value) if depth < max_depth else _compact(value)
            yield f"{path}: {rendered}" if path else rendered


def _key_path(path: str, key: str) -> str:
    key = key or '""'
    return f"{path}.{key}" if path else key


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return collapse_spaces(value)
    if isinstance(value, dict | list):  # only empty ones reach here
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(value)


def _compact(value: Any) -> str:
    if not isinstance(value, dict | list):
        return _scalar(value)
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:
        return "[nested too deeply to show]"
    return text if len(text) <= _MAX_DEEP_VALUE else text[:_MAX_DEEP_VALUE] + "…"
