"""The HTTP endpoint for Slack's Events API and slash commands (HTTP mode).

One aiohttp server: ``POST /slack/events`` for events, commands and interactions (bolt checks
``X-Slack-Signature`` against the signing secret and answers 401 to anything unsigned, badly
signed or older than five minutes), and ``GET /healthz`` for a load balancer.
"""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"


class EventsServer:
    def __init__(self, app: AsyncApp, *, host: str, port: int, shutdown_timeout: float = 2.0):
        self.app = app
        self.host = host
        self.port = port
        self.shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Where Slack should POST (with the port actually bound, if 0 was asked for)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}{EVENTS_PATH}"

    async def start(self) -> None:
        web_app = web.Application()
        web_app.router.add_post(EVENTS_PATH, self._events)
        web_app.router.add_get(HEALTH_PATH, self._health)
        runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=self.shutdown_timeout)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening and close open connections (in-flight requests get
        ``shutdown_timeout`` seconds)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _events(self, request: web.Request) -> web.Response:
        bolt_response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")
