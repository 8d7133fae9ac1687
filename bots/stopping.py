"""Stopping on SIGINT (Ctrl-C) or SIGTERM, for ``pagemind run`` and ``pagemind chat``.

The first signal asks to stop: no new turn starts (what arrives is still recorded), the
turns under way get the grace period (``PAGEMIND_SHUTDOWN_GRACE_SECONDS``) to finish, then
are cancelled; a second signal cancels them at once. Whatever was left unfinished stays in
the inbox and is processed by another replica or at the next start; the process then exits
with 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM), and with 0 if nothing was
left.
"""

from __future__ import annotations

import asyncio
import signal

from core.inbound.dispatch import AgentDispatcher


class StopSignals:
    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.at_once = asyncio.Event()
        self.signal: int | None = None

    def install(self) -> StopSignals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._received, sig)
        return self

    def remove(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

    def _received(self, sig: int) -> None:
        if self.requested.is_set():
            self.at_once.set()
        else:
            self.signal = sig
            self.requested.set()

    def exit_code(self, left: int) -> int:
        if not left:
            return 0
        return 128 + (self.signal or signal.SIGTERM)


async def finish_turns(dispatcher: AgentDispatcher, grace: float, stop: StopSignals) -> bool:
    """Start no new turn; wait up to ``grace`` seconds (or until a second signal) for the
    turns under way, then cancel the rest. True if they all finished."""
    dispatcher.pause()
    joined = asyncio.ensure_future(dispatcher.join())
    hurry = asyncio.ensure_future(stop.at_once.wait())
    try:
        await asyncio.wait({joined, hurry}, timeout=grace, return_when=asyncio.FIRST_COMPLETED)
        finished = joined.done()
    finally:
        joined.cancel()
        hurry.cancel()
    if not finished:
        await dispatcher.aclose()
    return finished
