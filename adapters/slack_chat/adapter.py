"""Pagemind on Slack: the lifecycle of one Slack app connection, in either mode.

* **Socket Mode** (``mode=socket``): the app opens a websocket to Slack with the app-level
  token (``xapp-``); nothing needs to be reachable from the internet.
* **HTTP events** (``mode=http``): Slack POSTs events and slash commands to
  ``http_listen:http_port`` ``/slack/events``, signed with the signing secret.

Either way the adapter acknowledges a message event once it is recorded in the inbox (a
few milliseconds), every other request at once, and does the rest of the work in tracked
tasks (``listeners.py``, ``handling.py``). It is also the ``ReplySink`` for the agent's replies on
Slack and the ``PlatformFiles`` the upload pipeline downloads shared files through.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import aiohttp
from pydantic import SecretStr
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_chat.commands import DEFAULT_SLASH_COMMAND
from adapters.slack_chat.download import SlackDownloads
from adapters.slack_chat.errors import CALL_ERRORS, delivery_error, error_code
from adapters.slack_chat.handling import InboundHandler
from adapters.slack_chat.listeners import register_listeners
from adapters.slack_chat.options import SlackOptions
from adapters.slack_chat.outbound import WORKING_REACTION, SlackOutbound
from adapters.slack_chat.server import EventsServer
from adapters.slack_chat.translate import BotIdentity
from adapters.slack_chat.users import UserDirectory
from core.errors import ConfigurationError
from core.events import Address, SendReply
from core.inbound.messages import Attachment, PlatformPolicy
from core.ports import GatewayPort
from core.tasks import BackgroundTasks

log = logging.getLogger(__name__)

API_TIMEOUT = 30  # seconds, per Web API call
CONNECT_TIMEOUT = 30.0  # seconds to open the Socket Mode connection
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=300, sock_connect=10, sock_read=60)


class SlackAdapter:
    """Connects Pagemind to one Slack workspace.

    ``start()`` checks the tokens and begins taking events; ``stop()`` stops taking them and
    closes everything. In between: ``send`` (the ``ReplySink``), ``download``,
    ``post_status`` and ``edit_status`` (the ``PlatformFiles``), and ``join()`` to wait until
    every event received so far has been dealt with.
    """

    def __init__(
        self,
        settings: SlackOptions,
        gateway: GatewayPort,
        policy: PlatformPolicy,
        *,
        slash_command: str = DEFAULT_SLASH_COMMAND,
        working_reaction: str = WORKING_REACTION,
        ping_interval: float = 10.0,
        shutdown_grace: float = 5.0,
        max_retries: int = 2,
    ) -> None:
        self.settings = settings
        self.gateway = gateway
        self.policy = policy
        self.slash_command = slash_command
        self.ping_interval = ping_interval
        self.shutdown_grace = shutdown_grace
        self._bot_token = _secret(settings.bot_token, "PAGEMIND_SLACK_BOT_TOKEN")
        self._api_base_url = settings.api_base_url.rstrip("/") + "/"
        self.client = AsyncWebClient(
            token=self._bot_token,
            base_url=self._api_base_url,
            timeout=API_TIMEOUT,
            retry_handlers=[
                AsyncRateLimitErrorRetryHandler(max_retry_count=max_retries),
                AsyncServerErrorRetryHandler(max_retry_count=max_retries),
                AsyncConnectionErrorRetryHandler(max_retry_count=max_retries),
            ],
        )
        self.outbound = SlackOutbound(self.client, working_reaction=working_reaction)
        self._tasks = BackgroundTasks()
        self._handler = InboundHandler(
            gateway=gateway,
            outbound=self.outbound,
            users=UserDirectory(self.client),
            tasks=self._tasks,
            slash_command=slash_command,
        )
        self.app = AsyncApp(
            # Bolt names its app's loggers after this (by default, after our file name):
            # under "slack_bolt" they are recognised as the library's (config/logging.py).
            name="slack_bolt.pagemind",
            client=self.client,
            signing_secret=_optional(settings.signing_secret),
            process_before_response=True,
            request_verification_enabled=settings.mode == "http",
        )
        register_listeners(
            self.app,
            handler=self._handler,
            tasks=self._tasks,
            identity=self._identity_now,
            slash_command=slash_command,
            limit=self.outbound.limit,
        )
        self._identity: BotIdentity | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._server: EventsServer | None = None
        self._downloads: SlackDownloads | None = None
        self._api_session: aiohttp.ClientSession | None = None
        self._session: aiohttp.ClientSession | None = None

    # ----------------------------------------------------------------- identity

    @property
    def bot_user_id(self) -> str:
        """The bot's user id (``U...``), known once ``start()`` ran ``auth.test``."""
        return self._identity_now().user_id

    @property
    def events_url(self) -> str | None:
        """In HTTP mode, the URL the server listens on (the bound port if 0 was asked)."""
        return self._server.url if self._server is not None else None

    def _identity_now(self) -> BotIdentity:
        if self._identity is None:
            raise RuntimeError("SlackAdapter.start() has not run yet")
        return self._identity

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Check the bot token (``auth.test``), then connect (Socket Mode) or listen (HTTP).
        Raises ``ConfigurationError`` for a missing or rejected token or secret."""
        # One pooled session for the Web API (the SDK otherwise opens a new connection, TLS
        # handshake included, for every call) and one for file downloads.
        self._api_session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(API_TIMEOUT))
        self.client.session = self._api_session
        self._session = aiohttp.ClientSession(timeout=DOWNLOAD_TIMEOUT)
        self._downloads = SlackDownloads(
            self.client,
            self._bot_token,
            self._session,
            api_host=urlsplit(self._api_base_url).hostname,
        )
        try:
            self._identity = await self._who_am_i()
            if self.settings.mode == "socket":
                await self._connect_socket_mode()
            else:
                await self._listen_http()
        except BaseException:
            await self.stop()
            raise
        log.info(
            "Slack adapter started (%s mode) as %s in %s",
            self.settings.mode,
            self._identity.user_id,
            self._identity.team_id,
        )

    async def stop(self) -> None:
        """Stop taking events, let in-flight ones reach the gateway (``shutdown_grace``
        seconds at most), take "working" reactions down, and close every connection."""
        socket, self._socket = self._socket, None
        server, self._server = self._server, None
        if socket is not None:
            await socket.close_async()  # type: ignore[no-untyped-call]
        if server is not None:
            await server.stop()
        await self._tasks.aclose(self.shutdown_grace)
        self.client.session = None
        for session in (self._api_session, self._session):
            if session is not None:
                await session.close()
        self._api_session = self._session = None

    async def join(self) -> None:
        """Wait until every event and command received so far has been handled (the agent's
        turn included, while this process shows its "working" reaction)."""
        await self._tasks.join()

    async def _who_am_i(self) -> BotIdentity:
        try:
            auth = await self.client.auth_test()
        except SlackApiError as exc:
            raise ConfigurationError(
                f"Slack rejected PAGEMIND_SLACK_BOT_TOKEN ({error_code(exc)}); "
                "set it to the app's Bot User OAuth Token (xoxb-...)"
            ) from exc
        except CALL_ERRORS as exc:
            raise delivery_error(exc, "answer auth.test") from exc
        return BotIdentity(
            user_id=str(auth["user_id"]),
            name=str(auth.get("user") or "pagemind"),
            team_id=str(auth.get("team_id") or ""),
        )

    async def _connect_socket_mode(self) -> None:
        app_token = _secret(self.settings.app_token, "PAGEMIND_SLACK_APP_TOKEN")
        # The SDK retries a refused connection forever, so check the token once first.
        probe = AsyncWebClient(token=app_token, base_url=self._api_base_url, timeout=API_TIMEOUT)
        try:
            await probe.apps_connections_open(app_token=app_token)
        except SlackApiError as exc:
            raise ConfigurationError(
                f"Slack rejected PAGEMIND_SLACK_APP_TOKEN ({error_code(exc)}); set it to an "
                "app-level token (xapp-...) with the connections:write scope"
            ) from exc
        except CALL_ERRORS as exc:
            raise delivery_error(exc, "open a Socket Mode connection") from exc
        self._socket = AsyncSocketModeHandler(self.app, app_token, ping_interval=self.ping_interval)
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await self._socket.connect_async()  # type: ignore[no-untyped-call]

    async def _listen_http(self) -> None:
        _secret(self.settings.signing_secret, "PAGEMIND_SLACK_SIGNING_SECRET")
        self._server = EventsServer(
            self.app, host=self.settings.http_listen, port=self.settings.http_port
        )
        await self._server.start()

    # ---------------------------------------------------------------- the ports

    async def send(self, reply: SendReply) -> None:
        """``ReplySink``: post the agent's reply in its conversation and thread."""
        await self.outbound.send(reply)

    async def download(self, attachment: Attachment, max_bytes: int) -> bytes:
        """``PlatformFiles``: the bytes of a file shared with the bot (``UploadError`` with a
        message for the user if it is too large or cannot be fetched)."""
        if self._downloads is None:
            raise RuntimeError("SlackAdapter.start() has not run yet")
        return await self._downloads.download(attachment, max_bytes)

    async def post_status(self, address: Address, text: str) -> str:
        """``PlatformFiles``: post a status message; returns its ``ts``."""
        return await self.outbound.post_status(address, text)

    async def edit_status(self, address: Address, message_id: str, text: str) -> None:
        """``PlatformFiles``: replace the text of a status message."""
        await self.outbound.edit_status(address, message_id, text)


def _secret(value: SecretStr | None, setting: str) -> str:
    secret = _optional(value)
    if not secret:
        raise ConfigurationError(f"{setting} is not set")
    return secret


def _optional(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""
