"""Pagemind on Discord (discord.py 2.7): see ``NOTES.md`` for setting up the bot.

``DiscordAdapter`` is the only public name; the modules behind it each do one thing:
``client`` (intents, sharding), ``translate`` (Discord objects -> ``IncomingMessage``),
``inbound`` (messages -> the core's gateway), ``commands`` (slash commands), ``outbound``
(replies, upload status, downloads), ``typing_indicator`` and ``tasks``.
"""

from .adapter import DiscordAdapter

__all__ = ["DiscordAdapter"]
