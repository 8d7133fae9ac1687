"""What the core needs of wherever people are (a chat platform, the console)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from core.events import SendReply
from core.messages import Message

if TYPE_CHECKING:  # the gateway's own types; it imports the ports itself
    from core.inbound.commands import Command
    from core.inbound.gateway import GatewayResult
    from core.inbound.messages import IncomingMessage


class GatewayPort(Protocol):
    """Where a platform adapter hands what people write (``core.inbound.gateway.Gateway``);
    the adapter then does what the result says."""

    async def receive(
        self, message: IncomingMessage, bot_username: str | None = None
    ) -> GatewayResult: ...

    async def command(self, message: IncomingMessage, command: Command) -> GatewayResult: ...


class ReplySink(Protocol):
    """Delivers the agent's messages to wherever the user is (a platform, the console)."""

    async def send(self, reply: SendReply) -> None: ...


class TurnObserver(Protocol):
    """Told about every stored step: the console shows function calls and thoughts with it."""

    def step_stored(self, agent_key: str, messages: Sequence[Message]) -> None: ...
