""" "typing…" in a chat (and topic) for as long as the agent works on what was said there.

Telegram shows a chat action for about 5 seconds, or until the bot sends a message, so it is
repeated every ``interval`` seconds. One loop runs per chat and topic however many turns are
pending there; it ends when they are all done, after ``limit`` seconds at most, or when the
chat refuses chat actions. Right after the bot sent a message there, a round is skipped, so
"typing…" does not flash up again after a final answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from core.inbound.gateway import TurnDone
from core.tasks import BackgroundTasks

ShowTyping = Callable[[int, int | None], Awaitable[bool]]
Key = tuple[int, int | None]


@dataclass
class _Indicator:
    turns: list[TurnDone] = field(default_factory=list)
    last_message: float = float("-inf")


class TypingIndicators:
    """Runs the "typing…" loops; ``aclose`` stops them all."""

    def __init__(self, show: ShowTyping, *, interval: float = 4.0, limit: float = 300.0) -> None:
        self._show = show
        self._interval = interval
        self._limit = limit
        self._active: dict[Key, _Indicator] = {}
        self._tasks = BackgroundTasks()

    def __len__(self) -> int:
        return len(self._tasks)

    def show_until(self, chat_id: int, thread_id: int | None, turn: TurnDone) -> None:
        """Show "typing…" in the chat (topic) until ``turn`` resolves."""
        if turn.done():
            return
        key = (chat_id, thread_id)
        indicator = self._active.get(key)
        if indicator is not None:
            indicator.turns.append(turn)
            return
        indicator = self._active[key] = _Indicator(turns=[turn])
        name = f"telegram-typing:{chat_id}" + (f":{thread_id}" if thread_id else "")
        self._tasks.spawn(self._run(key, indicator), name=name)

    def message_sent(self, chat_id: int, thread_id: int | None) -> None:
        """The bot just sent a message there (which hides "typing…" on Telegram)."""
        indicator = self._active.get((chat_id, thread_id))
        if indicator is not None:
            indicator.last_message = asyncio.get_running_loop().time()

    async def _run(self, key: Key, indicator: _Indicator) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._limit
        try:
            while True:
                indicator.turns = [t for t in indicator.turns if not t.done()]
                if not indicator.turns or loop.time() >= deadline:
                    return
                quiet = loop.time() - indicator.last_message >= self._interval
                if quiet and not await self._show(*key):
                    return
                await asyncio.wait(
                    indicator.turns,
                    timeout=min(self._interval, deadline - loop.time()),
                    return_when=asyncio.ALL_COMPLETED,
                )
        finally:
            if self._active.get(key) is indicator:
                del self._active[key]

    async def aclose(self) -> None:
        await self._tasks.aclose()
        self._active.clear()
