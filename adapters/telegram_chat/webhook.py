"""The webhook endpoint: Telegram's POSTs, answered only once the update has been handled.

python-telegram-bot's own webhook server answers 200 as soon as an update is queued in
memory, before anything is recorded. Telegram then considers it delivered: a replica killed
at that moment loses it, and with several replicas an update Telegram sends after that 200
can be recorded by another replica before this one recorded the first, and overtake it.
Here each update goes through the application's handlers (``process_update``: the gateway
records it in the inbox) before the 200 leaves, one update at a time in arrival order, as
PTB's own queue would take them. An update the handler could not record (``refuse``, called
from the handler) gets 500, and Telegram delivers it again later. Requests without the
secret token get 403; a body that is not an update gets 400.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus

from aiohttp import web
from telegram import Update

from adapters.telegram_chat.connection import AnyApplication

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookServer:
    def __init__(
        self, app: AnyApplication, *, listen: str, port: int, path: str, secret: str
    ) -> None:
        self._app = app
        self._listen = listen
        self._port = port
        self._path = "/" + path.strip("/")
        self._secret = secret
        self._turn = asyncio.Lock()
        self._refused: set[int] = set()
        self._runner: web.AppRunner | None = None

    def refuse(self, update_id: int) -> None:
        """Answer this update with 500 (it could not be recorded): Telegram retries it."""
        self._refused.add(update_id)

    async def start(self) -> None:
        web_app = web.Application()
        web_app.router.add_post(self._path, self._post)
        if self._path != "/":
            web_app.router.add_post(self._path + "/", self._post)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._listen, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _post(self, request: web.Request) -> web.Response:
        if request.headers.get(SECRET_HEADER) != self._secret:
            return web.Response(status=HTTPStatus.FORBIDDEN)
        if request.content_type != "application/json":
            return web.Response(status=HTTPStatus.FORBIDDEN)
        try:
            update = Update.de_json(await request.json(), self._app.bot)
        except Exception:
            log.warning("the webhook received a body that is not a Telegram update")
            return web.Response(status=HTTPStatus.BAD_REQUEST)
        if update is not None:
            async with self._turn:  # one at a time, in the order they arrived
                await self._app.process_update(update)
            if update.update_id in self._refused:
                self._refused.discard(update.update_id)
                return web.Response(status=HTTPStatus.INTERNAL_SERVER_ERROR)
        return web.Response(status=HTTPStatus.OK)
