"""The "Pagemind is typing…" indicator while the agent works on a message.

Discord shows a typing indicator for about 10 seconds, or until the bot posts a message, so
it is renewed every ``interval`` seconds until the turn is done, and never for longer than
``limit`` seconds (a stuck turn must not look busy forever).
"""

from __future__ import annotations

import asyncio
import logging

import discord

from core.inbound.gateway import TurnDone

log = logging.getLogger(__name__)


async def show_typing_until(
    channel: discord.abc.Messageable,
    done: TurnDone,
    *,
    interval: float,
    limit: float,
    request_timeout: float = 10.0,
) -> None:
    """Renew the typing indicator in ``channel`` until ``done`` resolves (never cancels it).
    A failed or slow request ends the indicator: it is cosmetic."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not done.done():
        try:
            async with asyncio.timeout(request_timeout):
                await channel.typing()  # a single "typing" trigger
        except (discord.HTTPException, OSError, TimeoutError) as exc:
            # Cosmetic: no permission, a gone channel or a slow API must not stop the turn.
            log.debug("could not show typing in %s: %s", getattr(channel, "id", "?"), exc)
            return
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        await asyncio.wait([done], timeout=min(interval, remaining))
