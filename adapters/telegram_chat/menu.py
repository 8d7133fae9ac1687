"""The command menu Telegram shows when a user types "/" (set with setMyCommands)."""

from __future__ import annotations

from telegram import BotCommand

from core.inbound.commands import COMMANDS, CommandName

DESCRIPTIONS: dict[CommandName, str] = {
    "help": "What I understand",
    "memory": "What I keep in mind about you",
    "search": "Search our conversations and your files: /search words",
    "export": "A file with everything I remember of you",
    "erase": "Forget everything about you (asks to confirm)",
    "checkins": "Your scheduled check-ins; /checkins cancel <id>",
    "checkin": "Schedule one: /checkin every 1d <note>",
    "timezone": "The time zone I use with you: /timezone Europe/Lisbon",
}


def bot_commands() -> list[BotCommand]:
    """One menu entry per command the gateway understands, in its order."""
    return [BotCommand(name, DESCRIPTIONS[name]) for name in COMMANDS]
