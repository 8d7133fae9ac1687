"""The ``/pagemind <command> [args]`` slash command, and command wording that works in Slack.

Slack's client treats every message starting with ``/`` as a slash command and refuses
unknown ones, so the core's "/memory" and "/erase CODE" are shown as "/pagemind memory" and
"/pagemind erase CODE". In a message, ``!memory`` (or `` /memory`` with a leading space)
still works as a text command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.inbound.commands import COMMANDS, Command

DEFAULT_SLASH_COMMAND = "/pagemind"
_CORE_COMMAND = re.compile(rf"(?<![\w/])/({'|'.join(COMMANDS)})\b")


@dataclass(frozen=True, slots=True)
class SlashRequest:
    """What ``/pagemind <text>`` asks for. ``unknown`` is the word we did not understand
    (the command is then ``help``)."""

    command: Command
    unknown: str | None = None


def parse_slash(text: str) -> SlashRequest:
    """``"search green tea"`` -> ``search("green tea")``; empty or unknown -> ``help``."""
    word, _, rest = text.strip().partition(" ")
    name = word.lower().lstrip("/!")
    for known in COMMANDS:
        if name == known:
            return SlashRequest(Command(known, rest.strip()))
    return SlashRequest(Command("help"), unknown=word or None)


def slack_wording(text: str, slash_command: str = DEFAULT_SLASH_COMMAND) -> str:
    """Rewrite the core's ``/memory``-style command names as ``/pagemind memory``."""
    return _CORE_COMMAND.sub(lambda m: f"{slash_command} {m.group(1)}", text)
