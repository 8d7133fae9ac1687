"""Valid text: what every string from outside is made into before it is stored.

Text reaches Pagemind as bytes (a terminal, a file) or as JSON that may carry ``\\ud800``
escapes (platforms, the model). Python turns undecodable bytes into lone surrogates
(``surrogateescape``), and JSON escapes can leave them too; neither can be encoded as
UTF-8, so a database driver refuses them and the message is lost. ``valid_text`` replaces
each such code point with U+FFFD and joins a surrogate pair that arrived as two escapes.
"""

from __future__ import annotations

import json
import re

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def valid_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (unchanged if already valid)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return text
    # A high and a low surrogate in a row are one character written as two escapes.
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _SURROGATE.sub(REPLACEMENT, joined)


def plural(count: int, noun: str) -> str:
    """ "1 passage", "2 passages", "1,024 passages" (nouns that take an s)."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def valid_json_text(text: str) -> str:
    """JSON text (a model's function arguments) whose strings decode to valid text: a
    ``\\ud800`` escape would turn into a lone surrogate once parsed. Text that is not JSON
    is only made valid itself (whoever parses it reports the error)."""
    text = valid_text(text)
    if not _SURROGATE_ESCAPE.search(text):
        return text
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return json.dumps(_valid_strings(parsed), ensure_ascii=False)


def _valid_strings(value: object) -> object:
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, list):
        return [_valid_strings(v) for v in value]
    if isinstance(value, dict):
        return {valid_text(str(k)): _valid_strings(v) for k, v in value.items()}
    return value
