"""``FakeTelegram``: the server, what a test does to it, and what it asks of it."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Callable

from aiohttp import ClientSession, web

from tests.support.fakes.telegram import payloads
from tests.support.fakes.telegram.faults import Faults
from tests.support.fakes.telegram.payloads import DEFAULT_GROUP_ID, JSON, make_user
from tests.support.fakes.telegram.routes import BotApi
from tests.support.fakes.telegram.state import BotState, Call


class FakeTelegram:
    """The Telegram Bot API (the parts PTB uses) as an aiohttp server on a free loopback port."""

    def __init__(
        self,
        *,
        bot_username: str = "pagemind_bot",
        bot_id: int = 7000000001,
        bot_first_name: str = "Pagemind",
        can_read_all_group_messages: bool = False,
    ) -> None:
        self.state = BotState(payloads.bot_user(bot_id, bot_first_name, bot_username))
        self.faults = Faults()
        self.api = BotApi(self.state, self.faults, can_read_all=can_read_all_group_messages)
        self.port = 0
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def api_base(self) -> str:
        """For ``ApplicationBuilder().base_url(...)``; PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_base(self) -> str:
        """For ``ApplicationBuilder().base_file_url(...)``; PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    @property
    def bot_user(self) -> JSON:
        return self.state.bot_user

    @property
    def bot_username(self) -> str:
        return str(self.state.bot_user["username"])

    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.api.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        """Answers any open long poll with no updates, then stops the server."""
        self.api.closing = True
        self.state.notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ inbound traffic

    def push_update(self, body: JSON) -> JSON:
        """Queues ``{"update_id": <next>, **body}`` for getUpdates and returns it."""
        return self.state.queue_update(body)

    def redeliver(self, update: JSON) -> JSON:
        """Queues an already delivered update again, same ``update_id`` (as after a TG hiccup)."""
        return self.state.requeue(update)

    def push_private_message(
        self, text: str, *, user: JSON | None = None, entities: list[JSON] | None = None
    ) -> JSON:
        """A direct message from ``user`` (default: :func:`make_user`) to the bot."""
        user = user or make_user()
        chat = self.state.private_chat(user)
        message = self.state.inbound(chat, user, text=text, entities=entities)
        return self.push_update({"message": message})

    def push_group_message(
        self,
        text: str,
        *,
        chat_id: int = DEFAULT_GROUP_ID,
        title: str = "Test group",
        chat_type: str = "supergroup",
        user: JSON | None = None,
        mention_bot: bool = False,
        reply_to: int | JSON | None = None,
        thread_id: int | None = None,
        entities: list[JSON] | None = None,
    ) -> JSON:
        """A group message; ``mention_bot`` prefixes ``@<bot username> `` (a mention entity).

        ``reply_to`` is a message id in this chat (e.g. of one of the bot's own messages) or a
        message dict. ``thread_id`` posts into that forum topic (the chat becomes a forum).
        """
        user = user or make_user()
        chat = self.state.group_chat(chat_id, title=title, chat_type=chat_type, forum=thread_id)
        if mention_bot and f"@{self.bot_username}" not in text:
            text = f"@{self.bot_username} {text}"
        message = self.state.inbound(
            chat, user, text=text, entities=entities, reply_to=reply_to, thread_id=thread_id
        )
        return self.push_update({"message": message})

    def push_command(
        self,
        command: str,
        args: str = "",
        *,
        chat_id: int | None = None,
        user: JSON | None = None,
        mention_bot: bool = False,
        thread_id: int | None = None,
    ) -> JSON:
        """``/command args`` (``/command@bot args`` with ``mention_bot``) in a DM, or in the
        group ``chat_id`` when that is negative."""
        text = f"/{command.lstrip('/')}" + (f"@{self.bot_username}" if mention_bot else "")
        text += f" {args}" if args else ""
        if chat_id is None or chat_id > 0:
            return self.push_private_message(text, user=user)
        return self.push_group_message(text, chat_id=chat_id, user=user, thread_id=thread_id)

    def add_file(
        self,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        file_size: int | None = None,
        kind: str = "documents",
    ) -> JSON:
        """Registers bytes as a Telegram file and returns its ``Document`` object.

        ``file_size`` overrides the advertised size, e.g. 21 MB to trigger "file is too big".
        """
        return self.state.add_file(
            data, file_name=file_name, mime_type=mime_type, file_size=file_size, kind=kind
        )

    def push_document(
        self,
        data: bytes,
        *,
        file_name: str,
        mime_type: str = "application/octet-stream",
        file_size: int | None = None,
        caption: str | None = None,
        chat_id: int | None = None,
        user: JSON | None = None,
        thread_id: int | None = None,
    ) -> JSON:
        """A message carrying a document, in a DM (default) or the group ``chat_id``."""
        user = user or make_user()
        document = self.add_file(
            data, file_name=file_name, mime_type=mime_type, file_size=file_size
        )
        if chat_id is None or chat_id > 0:
            chat = self.state.private_chat(user)
        else:
            chat = self.state.group_chat(chat_id, forum=thread_id)
        extra: JSON = {"document": document}
        if caption is not None:
            extra["caption"] = caption
            if entities := payloads.detect_entities(caption):
                extra["caption_entities"] = entities
        message = self.state.inbound(chat, user, thread_id=thread_id, **extra)
        return self.push_update({"message": message})

    def push_edited_message(self, message: JSON, text: str) -> JSON:
        """An ``edited_message`` update for a previously pushed message (or its update)."""
        original = message.get("message", message)
        chat_id, message_id = original["chat"]["id"], original["message_id"]
        stored = self.state.message(chat_id, message_id) or copy.deepcopy(original)
        stored["text"] = text
        stored["edit_date"] = int(time.time())
        stored.pop("entities", None)
        if entities := payloads.detect_entities(text):
            stored["entities"] = entities
        self.state.store(stored)
        return self.push_update({"edited_message": copy.deepcopy(stored)})

    def push_callback_query(
        self, data: str, *, message: JSON | None = None, user: JSON | None = None
    ) -> JSON:
        """A button press on ``message`` (usually one the bot sent with an inline keyboard)."""
        user = user or make_user()
        query_id = f"{len(self.state.callback_ids) + 1:019d}"
        self.state.callback_ids.add(query_id)
        query: JSON = {"id": query_id, "from": user, "chat_instance": "-42", "data": data}
        if message is not None:
            query["message"] = copy.deepcopy(message)
        return self.push_update({"callback_query": query})

    async def post_update_to_webhook(
        self,
        url: str,
        update: JSON,
        *,
        secret_token: str | None = None,
        session: ClientSession | None = None,
    ) -> int:
        """POSTs ``update`` as Telegram does and returns the HTTP status. ``session`` reuses
        the caller's connection pool (load tests); by default each POST opens its own.

        A 2xx answer removes the update from the getUpdates queue (it was delivered).
        """
        headers = {} if secret_token is None else {"X-Telegram-Bot-Api-Secret-Token": secret_token}
        async with contextlib.AsyncExitStack() as stack:
            if session is None:
                session = await stack.enter_async_context(ClientSession())
            response = await stack.enter_async_context(
                session.post(url, json=update, headers=headers)
            )
            await response.read()
            status = response.status
        if 200 <= status < 300:
            self.state.pending = [p for p in self.state.pending if p.update is not update]
        return status

    # ------------------------------------------------------------------ failure injection

    def fail_next(
        self,
        method: str,
        *,
        times: int = 1,
        error_code: int = 400,
        description: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` fail; 429 gets ``parameters.retry_after``."""
        self.faults.fail_next(
            method,
            times=times,
            error_code=error_code,
            description=description,
            retry_after=retry_after,
        )

    def drop_next(self, method: str = "getUpdates", *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` get their connection closed, no response."""
        self.faults.drop_next(method, times=times)

    # ------------------------------------------------------------------ inspection

    @property
    def calls(self) -> list[Call]:
        """Every call answered, in arrival order."""
        return self.state.calls

    @property
    def tokens(self) -> set[str]:
        return self.state.tokens

    @property
    def downloads(self) -> list[str]:
        """File paths served, in order."""
        return self.state.downloads

    @property
    def webhook(self) -> JSON | None:
        """The last setWebhook params while a webhook is set."""
        return self.state.webhook

    def calls_to(self, method: str) -> list[Call]:
        """Every recorded call of ``method`` (failed attempts included), oldest first."""
        return self.state.calls_to(method)

    def sent_messages(self, chat_id: int | None = None) -> list[JSON]:
        """Messages the bot sent successfully (sendMessage, sendDocument), as returned to it."""
        return self.state.sent_messages(chat_id)

    @property
    def chat_actions(self) -> list[JSON]:
        """Params of successful sendChatAction calls."""
        return self.state.params_of_successful("sendChatAction")

    @property
    def edits(self) -> list[JSON]:
        """Params of successful editMessageText calls."""
        return self.state.params_of_successful("editMessageText")

    @property
    def callback_answers(self) -> list[JSON]:
        """Params of successful answerCallbackQuery calls."""
        return self.state.params_of_successful("answerCallbackQuery")

    def commands(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        """The command list currently set for ``scope`` (default scope) and language."""
        return list(self.state.menus.get(self.state.menu_key(scope, language_code), []))

    @property
    def pending_updates(self) -> list[JSON]:
        """Queued updates not yet acknowledged through ``getUpdates``' offset."""
        return [p.update for p in self.state.pending]

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        """The current state of a stored message (edits applied)."""
        return self.state.message(chat_id, message_id)

    def file_bytes(self, file_id: str) -> bytes:
        """The bytes behind a file id (pushed by a test or uploaded by the bot)."""
        return self.state.files[file_id].data

    async def wait_for(
        self,
        predicate: str | Callable[[Call], bool],
        timeout: float = 5.0,
    ) -> Call:
        """The first recorded call matching ``predicate`` (a method name matches its successful
        calls), waiting for it up to ``timeout`` seconds."""
        if isinstance(predicate, str):
            name = predicate.lower()
            matches: Callable[[Call], bool] = lambda c: c.ok and c.method.lower() == name  # noqa: E731
        else:
            matches = predicate
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self.state.changed
                    for call in self.state.calls:
                        if matches(call):
                            return call
                    await changed.wait()
        except TimeoutError:
            seen = ", ".join(f"{c.method}({c.status})" for c in self.state.calls) or "nothing"
            raise TimeoutError(f"no matching call within {timeout}s; seen: {seen}") from None

    async def wait_until_polling(self, timeout: float = 5.0) -> None:
        """Returns once a ``getUpdates`` long poll is open and waiting for updates."""
        async with asyncio.timeout(timeout):
            while not self.api.open_polls:
                await self.state.changed.wait()
