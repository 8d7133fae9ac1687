"""What the core needs of wherever people are (a chat platform, the console)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.events import SendReply
from core.messages import Message


class ReplySink(Protocol):
    """Delivers the agent's messages to wherever the user is (a platform, the console)."""

    async def send(self, reply: SendReply) -> None: ...


class TurnObserver(Protocol):
    """Told about every stored step: the console shows function calls and thoughts with it."""

    def step_stored(self, agent_key: str, messages: Sequence[Message]) -> None: ...
