"""The Discord adapter: one bot connection, from login to shutdown.

``DiscordAdapter`` is what the composition root builds and wires:

* ``start()`` logs in, connects to the gateway in a tracked background task, waits until
  ready and publishes the slash commands; ``stop()`` closes everything, quickly.
* messages go to the core's ``Gateway`` (``inbound.py``), slash commands to
  ``Gateway.command`` (``commands.py``);
* it is the ``ReplySink`` for platform "discord" (``send``) and the ``PlatformFiles`` of
  Discord uploads (``download``, ``post_status``, ``edit_status``), both in ``outbound.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import discord

from adapters.discord_chat.options import DiscordOptions
from core.errors import ConfigurationError
from core.events import Address, SendReply
from core.inbound.messages import Attachment, PlatformPolicy
from core.ports import GatewayPort
from core.tasks import BackgroundTasks

from .client import build_client, route_events
from .commands import SlashCommands
from .inbound import MessageHandler
from .outbound import DiscordOutbox

log = logging.getLogger(__name__)

MESSAGE_CONTENT_HINT = (
    "Discord refused the Message Content intent. Enable it for the bot (Developer Portal -> "
    "your application -> Bot -> Privileged Gateway Intents -> Message Content Intent), or set "
    "PAGEMIND_DISCORD_MESSAGE_CONTENT_INTENT=false to answer only DMs and mentions."
)


class DiscordAdapter:
    """Pagemind on Discord (discord.py 2.7). Start once, stop once."""

    def __init__(
        self,
        settings: DiscordOptions,
        gateway: GatewayPort,
        policy: PlatformPolicy,
        *,
        ready_timeout: float = 60.0,
        guild_ready_timeout: float = 2.0,
        request_timeout: float = 60.0,
        send_retries: int = 2,
        typing_interval: float = 8.0,
        typing_limit: float = 300.0,
        sync_commands: bool = True,
        stop_timeout: float = 5.0,
    ) -> None:
        """Build the (unconnected) client; nothing touches the network before ``start``.

        ``guild_ready_timeout``: how long discord.py waits for more servers before "ready".
        ``sync_commands``: publish the slash commands at start (let one replica do it).
        ``typing_interval``/``typing_limit``: renew "typing" this often, at most this long.
        """
        if settings.token is None or not settings.token.get_secret_value().strip():
            raise ConfigurationError("set PAGEMIND_DISCORD_TOKEN to the bot's token")
        self._token = settings.token.get_secret_value().strip()
        self._ready_timeout = ready_timeout
        self._sync_commands = sync_commands
        self._stop_timeout = stop_timeout
        self._client = build_client(settings, guild_ready_timeout=guild_ready_timeout)
        self._tasks = BackgroundTasks()
        self._outbox = DiscordOutbox(self._client, timeout=request_timeout, retries=send_retries)
        route_events(
            self._client,
            MessageHandler(
                self._client,
                gateway,
                self._outbox,
                self._tasks,
                typing_interval=typing_interval,
                typing_limit=typing_limit,
            ),
        )
        self._commands = SlashCommands(self._client, gateway, self._tasks, timeout=request_timeout)
        self._connection: asyncio.Task[None] | None = None
        self._ready = False
        self._stopping = False

    @property
    def bot_user_id(self) -> str | None:
        """The bot's user id once logged in (None before)."""
        user = self._client.user
        return str(user.id) if user else None

    @property
    def connected(self) -> bool:
        """Whether the gateway connection is up and ready right now."""
        return self._client.is_ready() and not self._client.is_closed()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Log in, connect, wait until ready, publish the slash commands.

        Raises ``ConfigurationError`` for a rejected token or a privileged intent the bot may
        not use, ``TimeoutError`` if Discord is not ready within ``ready_timeout`` seconds,
        and ``ConnectionError`` if it cannot be reached.
        """
        if self._connection is not None:
            raise RuntimeError("the Discord adapter was already started")
        try:
            async with asyncio.timeout(self._ready_timeout):
                await self._client.login(self._token)
                self._connection = asyncio.get_running_loop().create_task(
                    self._client.connect(reconnect=True), name="discord-gateway"
                )
                self._connection.add_done_callback(self._connection_ended)
                await self._until_ready(self._connection)
        except asyncio.CancelledError:
            await self.stop()
            raise
        except Exception as exc:
            await self.stop()
            error = _start_error(exc)
            if error is exc:
                raise
            raise error from exc
        self._ready = True
        user = self._client.user
        log.info("connected to Discord as %s (%s)", user, self.bot_user_id)
        if self._sync_commands:
            names = await self._commands.sync()
            log.info("Discord slash commands registered: %s", ", ".join(names) or "none")

    async def _until_ready(self, connection: asyncio.Task[None]) -> None:
        ready = asyncio.ensure_future(self._client.wait_until_ready())
        try:
            await asyncio.wait([ready, connection], return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not ready.done():
                ready.cancel()
                await asyncio.wait([ready])  # let it finish cancelling: no task left behind
        if connection.done():  # the connection ended before the bot was ready
            connection.result()  # raises what ended it
            raise ConnectionError("the Discord gateway closed before the bot was ready")

    def _connection_ended(self, task: asyncio.Task[None]) -> None:
        if self._stopping or not self._ready or task.cancelled():
            return  # start() or stop() reports it
        exc = task.exception()
        if exc is not None:
            log.critical("the Discord connection ended and will not come back", exc_info=exc)
        elif not self._client.is_closed():
            log.critical("the Discord connection ended unexpectedly")

    async def stop(self) -> None:
        """Cancel in-flight handlers, close the connection and the HTTP session. Idempotent."""
        self._stopping = True
        await self._tasks.aclose(self._stop_timeout)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._stop_timeout):
                await self._client.close()
        connection = self._connection
        if connection is not None and not connection.done():
            _, pending = await asyncio.wait([connection], timeout=self._stop_timeout)
            for task in pending:
                task.cancel()
                await asyncio.wait([task], timeout=self._stop_timeout)
        if connection is not None and connection.done() and not connection.cancelled():
            connection.exception()  # retrieved (and already reported): no "never retrieved"

    # ------------------------------------------------------------------ ReplySink

    async def send(self, reply: SendReply) -> None:
        """Deliver an agent's reply (split, threaded, idempotent; failures are logged)."""
        await self._outbox.send_reply(reply)

    # ------------------------------------------------------------------ PlatformFiles

    async def download(self, attachment: Attachment, max_bytes: int) -> bytes:
        """The attachment's bytes; ``UploadError`` (for the user) if too large or unavailable."""
        return await self._outbox.download(attachment, max_bytes)

    async def post_status(self, address: Address, text: str) -> str:
        """Post an upload status message; its id ("" if it could not be posted)."""
        return await self._outbox.post_status(address, text)

    async def edit_status(self, address: Address, message_id: str, text: str) -> None:
        """Update an upload status message (failures are logged)."""
        await self._outbox.edit_status(address, message_id, text)


def _start_error(exc: Exception) -> Exception:
    """Discord's start-up failures as errors the operator can act on."""
    match exc:
        case discord.LoginFailure():
            return ConfigurationError(
                "Discord rejected the bot token: check PAGEMIND_DISCORD_TOKEN (Developer "
                "Portal -> your application -> Bot -> Reset Token)"
            )
        case discord.PrivilegedIntentsRequired():
            return ConfigurationError(MESSAGE_CONTENT_HINT)
        case discord.ConnectionClosed(code=4013 | 4014):
            return ConfigurationError(MESSAGE_CONTENT_HINT)
        case discord.ConnectionClosed(code=4010 | 4011 as code):
            return ConfigurationError(
                f"Discord closed the connection with code {code}: the shard settings are wrong "
                "or the bot needs sharding; set PAGEMIND_DISCORD_SHARD_COUNT"
            )
        case TimeoutError():
            return TimeoutError("Discord did not get ready in time")
        case discord.DiscordException() | aiohttp.ClientError() | OSError():
            return ConnectionError(f"could not connect to Discord: {exc!r}")
    return exc
