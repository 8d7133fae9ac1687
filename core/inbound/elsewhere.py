"""Agents this process does not run right now (another worker holds the lease, or taking it
failed): their events wait in the inbox, and the agent is looked at again after a delay, in
case the holder has died or the database is back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Elsewhere:
    def __init__(self, look: Callable[[str], None]) -> None:
        self._look = look  # called once it is time to look at an agent again
        self._until: dict[str, float] = {}  # agent -> loop time to look at it again
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def look_again(self, agent_key: str, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._until[agent_key] = loop.time() + delay
        previous = self._timers.pop(agent_key, None)
        if previous is not None:
            previous.cancel()

        def due() -> None:
            self._timers.pop(agent_key, None)
            self._look(agent_key)

        self._timers[agent_key] = loop.call_later(delay + 0.05, due)

    def waiting(self, agent_key: str, now: float) -> bool:
        """Whether the agent's events are left to another worker until later."""
        return self._until.get(agent_key, 0.0) > now

    def clear(self, agent_key: str) -> None:
        """The agent is ours to run again (its lease was taken, or it is being looked at)."""
        self._until.pop(agent_key, None)

    def cancel(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
