"""Source code and config files: the text as written, split at top-level definitions.

Python is split with ``ast`` at top-level functions and classes (decorators included); other
languages with a regex over unindented lines (``func``, ``fn``, ``class``, ``CREATE TABLE``,
``[section]``...). Comment lines directly above a definition go with it; what precedes the
first definition is an unlabelled section, and trailing statements stay with the definition
before them. Languages without a pattern, and files with no definitions, are one section.
"""

from __future__ import annotations

import ast
import re

from .collect import SectionCollector
from .model import ParseLimits

_Pattern = tuple[re.Pattern[str], str]  # regex with a "name" group, and the label's noun


def _defs(*pairs: tuple[str, str], flags: int = 0) -> tuple[_Pattern, ...]:
    return tuple((re.compile(regex, flags), noun) for regex, noun in pairs)


_EXPORT = r"^(?:export\s+(?:default\s+)?)?"
_JS = (
    (_EXPORT + r"(?:async\s+)?function\*?\s*(?P<name>[\w$]+)", "function"),
    (_EXPORT + r"(?:abstract\s+)?class\s+(?P<name>[\w$]+)", "class"),
    (
        _EXPORT + r"(?:const|let|var)\s+(?P<name>[\w$]+)\s*=\s*(?:async\s*)?"
        r"(?:function\b|\([^)]*\)\s*=>|[\w$]+\s*=>)",
        "function",
    ),
)
_RUST_VISIBILITY = r"^(?:pub(?:\([^)]*\))?\s+)?"
_JVM_MODIFIERS = (
    r"^(?:(?:public|private|protected|internal|abstract|final|static|sealed|data|open)\s+)*"
)
_C_LIKE_TYPES = r"(?:class|struct|interface|enum|record|trait|object|namespace|union)"
_SQL_OBJECTS = r"(?P<kind>table|view|function|procedure|index|trigger|type|schema|sequence)"

_PATTERNS: dict[str, tuple[_Pattern, ...]] = {
    "python": _defs(  # the regex fallback for files too large for ast, or that don't parse
        (r"^(?:async\s+)?def\s+(?P<name>\w+)", "function"),
        (r"^class\s+(?P<name>\w+)", "class"),
    ),
    "javascript": _defs(*_JS),
    "typescript": _defs(
        *_JS,
        (_EXPORT + r"interface\s+(?P<name>\w+)", "interface"),
        (_EXPORT + r"(?:const\s+)?enum\s+(?P<name>\w+)", "enum"),
    ),
    "go": _defs(
        (r"^func\s+(?:\([^)]*\)\s*)?(?P<name>\w+)", "function"),
        (r"^type\s+(?P<name>\w+)", "type"),
    ),
    "rust": _defs(
        (
            _RUST_VISIBILITY + r"(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?"
            r"(?:extern\s+\"\w+\"\s+)?fn\s+(?P<name>\w+)",
            "function",
        ),
        (_RUST_VISIBILITY + r"(?:struct|enum|trait|union|mod)\s+(?P<name>\w+)", "type"),
        (r"^impl(?:<[^>]*>)?\s+(?P<name>[\w:<>, ]+?)\s*(?:\{|where|$)", "impl"),
    ),
    "java": _defs(
        (_JVM_MODIFIERS + _C_LIKE_TYPES + r"\s+(?P<name>\w+)", "type"),
        (
            _JVM_MODIFIERS + r"(?:suspend\s+|inline\s+)*fun\s+(?:<[^>]*>\s*)?(?P<name>[\w.]+)",
            "function",
        ),
    ),
    "csharp": _defs(
        (_JVM_MODIFIERS + r"(?:partial\s+)?" + _C_LIKE_TYPES + r"\s+(?P<name>[\w.]+)", "type"),
    ),
    "swift": _defs(
        (
            r"^(?:(?:public|private|internal|open|final)\s+)*"
            r"(?:class|struct|enum|protocol|extension|actor)\s+(?P<name>\w+)",
            "type",
        ),
        (r"^(?:(?:public|private|internal|open)\s+)*func\s+(?P<name>\w+)", "function"),
    ),
    "c": _defs(
        (r"^(?:typedef\s+)?(?:struct|union|enum|class|namespace)\s+(?P<name>\w+)[^;]*$", "type"),
        (  # "type name(args" at column 0, not ending in ";": a function definition
            r"^(?!(?:if|for|while|switch|return|else|do|typedef)\b)[A-Za-z_][\w\s*&:<>,]*?"
            r"\b(?P<name>~?[A-Za-z_][\w:~]*)\s*\([^;]*$",
            "function",
        ),
    ),
    "ruby": _defs(
        (r"^def\s+(?P<name>[\w.?!=]+)", "function"),
        (r"^(?:class|module)\s+(?P<name>[\w:]+)", "class"),
    ),
    "php": _defs(
        (
            r"^(?:(?:abstract|final|readonly)\s+)*(?:class|interface|trait|enum)\s+(?P<name>\w+)",
            "class",
        ),
        (r"^function\s+&?(?P<name>\w+)", "function"),
    ),
    "shell": _defs(
        (r"^(?:function\s+(?P<name>[\w:.-]+)|(?P<alt>[\w:.-]+)\s*\(\s*\))", "function"),
    ),
    "sql": _defs(
        (
            r"^(?:create|alter)\s+(?:or\s+replace\s+)?"
            r"(?:temp(?:orary)?\s+|unique\s+|materialized\s+)?" + _SQL_OBJECTS + r"\s+"
            r"(?:if\s+not\s+exists\s+)?(?P<name>[\w.\"`\[\]]+)",
            "",  # the statement names the noun
        ),
        flags=re.IGNORECASE,
    ),
    "toml": _defs((r"^\[\[?\s*(?P<name>[^\]]+?)\s*\]\]?\s*(?:#.*)?$", "section")),
    "ini": _defs((r"^\[\s*(?P<name>[^\]]+?)\s*\]\s*(?:[#;].*)?$", "section")),
    "yaml": _defs((r"^(?P<name>[\w\"'][^:#]*?):\s*(?:#.*)?$", "key")),
}
_COMMENT = re.compile(r"^\s*(?://|/\*|\*|#|--|;|@)")
_MAX_LABEL = 120
# Definitions start on short lines; skipping long ones (minified code, generated data) keeps
# the regexes from backtracking through megabytes.
_MAX_DEFINITION_LINE = 500


def parse_code(text: str, language: str, sink: SectionCollector, limits: ParseLimits) -> None:
    """Add the sections of a decoded source file to ``sink``."""
    lines = text.splitlines()
    starts: list[tuple[int, str]] | None = None
    if language == "python" and len(text) <= limits.max_syntax_tree_bytes:
        starts = _python_definitions(text)
    if starts is None:
        patterns = _PATTERNS.get(language, ())
        starts = _regex_definitions(lines, patterns, sink) if patterns else []
    if not starts:
        sink.add(None, text)
        return
    starts = [(_with_leading_comments(lines, line), label) for line, label in starts]
    sink.add(None, "\n".join(lines[: starts[0][0]]))
    for index, (line, label) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(lines)
        sink.add(label, "\n".join(lines[line:end]))


def _python_definitions(text: str) -> list[tuple[int, str]] | None:
    """(0-based first line, label) of each top-level def/class; None if it doesn't parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    starts: list[tuple[int, str]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            noun = "function"
        elif isinstance(node, ast.ClassDef):
            noun = "class"
        else:
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        starts.append((first - 1, f"{noun} {node.name}"))
    return starts


def _regex_definitions(
    lines: list[str], patterns: tuple[_Pattern, ...], sink: SectionCollector
) -> list[tuple[int, str]]:
    starts: list[tuple[int, str]] = []
    for number, line in enumerate(lines):
        if number % 10_000 == 0:
            sink.check_time(f"line {number:,}")
        if not line or line[0].isspace() or len(line) > _MAX_DEFINITION_LINE:
            continue
        for pattern, noun in patterns:
            match = pattern.match(line)
            if match:
                starts.append((number, _label(match, noun)))
                break
    return starts


def _label(match: re.Match[str], noun: str) -> str:
    groups = match.groupdict()
    name = (groups.get("name") or groups.get("alt") or "").strip()
    if not noun:  # SQL: the statement says what it creates
        noun = (groups.get("kind") or "").lower()
    return f"{noun} {name}"[:_MAX_LABEL]


def _with_leading_comments(lines: list[str], start: int) -> int:
    """Move ``start`` up over the comment and attribute lines directly above it."""
    while start > 0 and lines[start - 1].strip() and _COMMENT.match(lines[start - 1]):
        start -= 1
    return start
