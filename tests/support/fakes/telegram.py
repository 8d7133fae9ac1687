"""A protocol fake of the Telegram Bot API on 127.0.0.1, for driving python-telegram-bot in tests.

Usage::

    async with FakeTelegram(bot_username="pagemind_bot") as tg:
        app = (
            ApplicationBuilder()
            .token("123:TEST")
            .base_url(tg.api_base)
            .base_file_url(tg.file_base)
            .build()
        )
        update = tg.push_private_message("hello")
        ...
        call = await tg.wait_for("sendMessage")

It speaks HTTP like the real Bot API (form-encoded with JSON-string values, JSON, or multipart;
``{"ok": ...}`` envelopes; the HTTP status equals ``error_code``), keeps a queue of updates with
real ``getUpdates`` long-poll/offset semantics, stores the messages of every chat so replies and
edits are checked like Telegram checks them, serves uploaded and registered files, and records
every call. See ``TELEGRAM_NOTES.md`` next to this file for what is and isn't simulated.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import copy
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, web

JSON = dict[str, Any]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024  # getFile refuses bigger files

DEFAULT_USER_ID = 1001
DEFAULT_GROUP_ID = -1001234567890

# Form values PTB sends verbatim (strings are not JSON-encoded); everything else is JSON.
_RAW_PARAMS = frozenset(
    "text caption parse_mode action callback_query_id file_id url secret_token ip_address"
    " inline_message_id language_code".split()
)
_CHAT_ACTIONS = frozenset(
    "typing upload_photo record_video upload_video record_voice upload_voice upload_document"
    " choose_sticker find_location record_video_note upload_video_note".split()
)
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
# @mentions and /commands (optionally /command@botname) not glued to a preceding word or path.
_ENTITY = re.compile(
    r"(?<![\w@/])(?:(?P<mention>@[A-Za-z]\w{3,31})"
    r"|(?P<bot_command>/[A-Za-z0-9_]{1,32}(?:@[A-Za-z]\w{3,31})?))(?!\w)"
)


def make_user(
    user_id: int = DEFAULT_USER_ID,
    first_name: str = "Ana",
    username: str | None = "ana",
    *,
    language_code: str | None = "en",
) -> JSON:
    """A Telegram ``User`` object for a human sender."""
    user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        user["username"] = username
    if language_code:
        user["language_code"] = language_code
    return user


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def detect_entities(text: str) -> list[JSON]:
    """``mention`` and ``bot_command`` entities as Telegram computes them (UTF-16 offsets)."""
    entities: list[JSON] = []
    for match in _ENTITY.finditer(text):
        kind = match.lastgroup or "mention"
        entities.append(
            {
                "type": kind,
                "offset": _utf16_len(text[: match.start()]),
                "length": _utf16_len(match.group()),
            }
        )
    return entities


class TelegramAPIError(Exception):
    """An error the fake answers with: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, error_code: int, description: str, *, retry_after: int | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad_request(what: str) -> TelegramAPIError:
    return TelegramAPIError(400, f"Bad Request: {what}")


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass
class UploadedFile:
    """One multipart file part of a request."""

    field: str
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class Call:
    """One API request: ``at`` is ``time.monotonic()`` on arrival. Calls are recorded once
    answered (a long poll appears when it returns) and kept in arrival order."""

    method: str
    params: JSON
    token: str
    at: float
    files: dict[str, UploadedFile] = field(default_factory=dict)
    status: int = 200
    result: Any = None
    error: JSON | None = None
    dropped: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.dropped


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    file_name: str | None
    mime_type: str | None
    file_size: int

    def as_document(self) -> JSON:
        doc: JSON = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
        }
        if self.file_name:
            doc["file_name"] = self.file_name
        if self.mime_type:
            doc["mime_type"] = self.mime_type
        return doc


@dataclass
class _Failure:
    error: TelegramAPIError | None  # None: drop the connection instead of answering


@dataclass
class _Pending:
    update: JSON
    delivered: bool = False


Handler = Callable[[Call], Awaitable[Any]]


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
        self.bot_user: JSON = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self._can_read_all = can_read_all_group_messages
        self.port = 0
        self.calls: list[Call] = []
        self.tokens: set[str] = set()
        self.downloads: list[str] = []  # file paths served, in order
        self.webhook: JSON | None = None  # last setWebhook params while a webhook is set
        self._runner: web.AppRunner | None = None
        self._pending: list[_Pending] = []
        self._next_update_id = 500000001
        self._next_message_id: dict[int, int] = {}
        self._chats: dict[int, JSON] = {}
        self._messages: dict[tuple[int, int], JSON] = {}
        self._files: dict[str, _StoredFile] = {}
        self._callback_ids: set[str] = set()
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._changed = asyncio.Event()
        self._poll_generation = 0
        self._open_polls = 0
        self._closing = False
        self._handlers: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "deleteWebhook": self._delete_webhook,
                "setWebhook": self._set_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "getUpdates": self._get_updates,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "sendChatAction": self._send_chat_action,
                "getFile": self._get_file,
                "setMyCommands": self._set_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "getMyCommands": self._get_my_commands,
                "answerCallbackQuery": self._answer_callback_query,
                "sendDocument": self._send_document,
            }.items()
        }

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
    def bot_username(self) -> str:
        return str(self.bot_user["username"])

    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._serve_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        """Answers any open long poll with no updates, then stops the server."""
        self._closing = True
        self._notify()
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
        update = {"update_id": self._next_update_id, **body}
        self._next_update_id += 1
        self._pending.append(_Pending(update))
        self._notify()
        return update

    def redeliver(self, update: JSON) -> JSON:
        """Queues an already delivered update again, same ``update_id`` (as after a TG hiccup)."""
        again = copy.deepcopy(update)
        self._pending.append(_Pending(again))
        self._notify()
        return again

    def push_private_message(
        self, text: str, *, user: JSON | None = None, entities: list[JSON] | None = None
    ) -> JSON:
        """A direct message from ``user`` (default: :func:`make_user`) to the bot."""
        user = user or make_user()
        message = self._inbound(self._private_chat(user), user, text=text, entities=entities)
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
        chat = self._group_chat(chat_id, title=title, chat_type=chat_type, forum=thread_id)
        if mention_bot and f"@{self.bot_username}" not in text:
            text = f"@{self.bot_username} {text}"
        message = self._inbound(
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
        n = len(self._files) + 1
        suffix = file_name.rsplit(".", 1)[-1] if file_name and "." in file_name else "bin"
        stored = _StoredFile(
            file_id=f"BQACAgIAAxkBAAIF{n:06d}fake",
            file_unique_id=f"AgADfake{n:06d}",
            file_path=f"{kind}/file_{n}.{suffix}",
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            file_size=len(data) if file_size is None else file_size,
        )
        self._files[stored.file_id] = stored
        return stored.as_document()

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
            chat = self._private_chat(user)
        else:
            chat = self._group_chat(chat_id, forum=thread_id)
        extra: JSON = {"document": document}
        if caption is not None:
            extra["caption"] = caption
            if entities := detect_entities(caption):
                extra["caption_entities"] = entities
        message = self._inbound(chat, user, thread_id=thread_id, **extra)
        return self.push_update({"message": message})

    def push_edited_message(self, message: JSON, text: str) -> JSON:
        """An ``edited_message`` update for a previously pushed message (or its update)."""
        original = message.get("message", message)
        key = (original["chat"]["id"], original["message_id"])
        stored = self._messages.get(key, copy.deepcopy(original))
        stored["text"] = text
        stored["edit_date"] = int(time.time())
        stored.pop("entities", None)
        if entities := detect_entities(text):
            stored["entities"] = entities
        self._messages[key] = stored
        return self.push_update({"edited_message": copy.deepcopy(stored)})

    def push_callback_query(
        self, data: str, *, message: JSON | None = None, user: JSON | None = None
    ) -> JSON:
        """A button press on ``message`` (usually one the bot sent with an inline keyboard)."""
        user = user or make_user()
        query_id = f"{len(self._callback_ids) + 1:019d}"
        self._callback_ids.add(query_id)
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
            self._pending = [p for p in self._pending if p.update is not update]
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
        if error_code == 429:
            retry_after = 1 if retry_after is None else retry_after
            description = description or f"Too Many Requests: retry after {retry_after}"
        description = description or _DEFAULT_DESCRIPTIONS.get(error_code, "Injected failure")
        error = TelegramAPIError(error_code, description, retry_after=retry_after)
        queue = self._failures.setdefault(method.lower(), deque())
        queue.extend(_Failure(error) for _ in range(times))

    def drop_next(self, method: str = "getUpdates", *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` get their connection closed, no response."""
        queue = self._failures.setdefault(method.lower(), deque())
        queue.extend(_Failure(None) for _ in range(times))

    # ------------------------------------------------------------------ inspection

    def calls_to(self, method: str) -> list[Call]:
        """Every recorded call of ``method`` (failed attempts included), oldest first."""
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def sent_messages(self, chat_id: int | None = None) -> list[JSON]:
        """Messages the bot sent successfully (sendMessage, sendDocument), as returned to it."""
        return [
            c.result
            for c in self.calls
            if c.ok
            and c.method in ("sendMessage", "sendDocument")
            and (chat_id is None or c.result["chat"]["id"] == chat_id)
        ]

    @property
    def chat_actions(self) -> list[JSON]:
        """Params of successful sendChatAction calls."""
        return [c.params for c in self.calls_to("sendChatAction") if c.ok]

    @property
    def edits(self) -> list[JSON]:
        """Params of successful editMessageText calls."""
        return [c.params for c in self.calls_to("editMessageText") if c.ok]

    @property
    def callback_answers(self) -> list[JSON]:
        """Params of successful answerCallbackQuery calls."""
        return [c.params for c in self.calls_to("answerCallbackQuery") if c.ok]

    def commands(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        """The command list currently set for ``scope`` (default scope) and language."""
        return list(self._commands.get(self._commands_key(scope, language_code), []))

    @property
    def pending_updates(self) -> list[JSON]:
        """Queued updates not yet acknowledged through ``getUpdates``' offset."""
        return [p.update for p in self._pending]

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        """The current state of a stored message (edits applied)."""
        return self._messages.get((chat_id, message_id))

    def file_bytes(self, file_id: str) -> bytes:
        """The bytes behind a file id (pushed by a test or uploaded by the bot)."""
        return self._files[file_id].data

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
                    changed = self._changed
                    for call in self.calls:
                        if matches(call):
                            return call
                    await changed.wait()
        except TimeoutError:
            seen = ", ".join(f"{c.method}({c.status})" for c in self.calls) or "nothing"
            raise TimeoutError(f"no matching call within {timeout}s; seen: {seen}") from None

    async def wait_until_polling(self, timeout: float = 5.0) -> None:
        """Returns once a ``getUpdates`` long poll is open and waiting for updates."""
        async with asyncio.timeout(timeout):
            while not self._open_polls:
                await self._changed.wait()

    # ------------------------------------------------------------------ HTTP plumbing

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _api(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        token = request.match_info["token"]
        name = request.match_info["method"]
        self.tokens.add(token)
        try:
            params, files = await _read_params(request)
        except ConnectionError:  # the client gave up mid-request (e.g. PTB cancelled a poll)
            return web.Response(status=499)
        canonical, handler = self._handlers.get(name.lower(), (name, None))
        call = Call(method=canonical, params=params, token=token, at=at, files=files)
        failures = self._failures.get(name.lower())
        failure = failures.popleft() if failures else None
        try:
            if failure is not None and failure.error is None:
                call.dropped, call.status = True, 0
                self._record(call)
                assert request.transport is not None
                request.transport.abort()
                return web.Response()  # never sent: the connection is gone
            if failure is not None and failure.error is not None:
                raise failure.error
            if handler is None:
                raise TelegramAPIError(404, f"Not Found: method {name}")
            call.result = await handler(call)
        except TelegramAPIError as exc:
            call.error, call.status = exc.body(), exc.error_code
        self._record(call)
        if call.error is not None:
            return web.json_response(call.error, status=call.status)
        return web.json_response({"ok": True, "result": call.result})

    def _record(self, call: Call) -> None:
        bisect.insort(self.calls, call, key=lambda c: c.at)  # arrival order
        self._notify()

    async def _serve_file(self, request: web.Request) -> web.Response:
        self.tokens.add(request.match_info["token"])
        path = request.match_info["path"]
        for stored in self._files.values():
            if stored.file_path == path:
                self.downloads.append(path)
                return web.Response(body=stored.data, content_type="application/octet-stream")
        body = {"ok": False, "error_code": 404, "description": "Not Found"}
        return web.json_response(body, status=404)

    # ------------------------------------------------------------------ chats and messages

    def _private_chat(self, user: JSON) -> JSON:
        chat: JSON = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        if "username" in user:
            chat["username"] = user["username"]
        return self._chats.setdefault(user["id"], chat)

    def _group_chat(
        self,
        chat_id: int,
        *,
        title: str = "Test group",
        chat_type: str = "supergroup",
        forum: int | None = None,
    ) -> JSON:
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        chat = self._chats.setdefault(chat_id, {"id": chat_id, "type": chat_type, "title": title})
        if forum is not None:
            chat["type"], chat["is_forum"] = "supergroup", True
        return chat

    def _chat(self, chat_id: Any) -> JSON:
        try:
            return self._chats[int(chat_id)]
        except (KeyError, TypeError, ValueError):
            raise _bad_request("chat not found") from None

    def _new_message(self, chat: JSON, sender: JSON, content: JSON) -> JSON:
        chat_id = chat["id"]
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        message: JSON = {
            "message_id": message_id,
            "from": sender,
            "chat": chat,
            "date": int(time.time()),
            **content,
        }
        self._messages[(chat_id, message_id)] = message
        return copy.deepcopy(message)

    def _topic_root(self, chat: JSON, thread_id: int, sender: JSON) -> JSON:
        """The forum_topic_created service message Telegram puts in ``reply_to_message`` of topic
        messages that reply to nothing else."""
        key = (chat["id"], thread_id)
        if key not in self._messages:
            self._messages[key] = {
                "message_id": thread_id,
                "from": sender,
                "chat": chat,
                "date": int(time.time()),
                "message_thread_id": thread_id,
                "is_topic_message": True,
                "forum_topic_created": {"name": f"Topic {thread_id}", "icon_color": 7322096},
            }
            nxt = self._next_message_id.get(chat["id"], 1)
            self._next_message_id[chat["id"]] = max(nxt, thread_id + 1)
        return self._messages[key]

    def _content(
        self,
        chat: JSON,
        sender: JSON,
        *,
        reply_to: JSON | None,
        thread_id: int | None,
        text: str | None = None,
        entities: list[JSON] | None = None,
        **extra: Any,
    ) -> JSON:
        content: JSON = {}
        if thread_id is not None and chat.get("is_forum"):
            content["message_thread_id"] = thread_id
            content["is_topic_message"] = True
            reply_to = reply_to or self._topic_root(chat, thread_id, sender)
        if reply_to is not None:
            content["reply_to_message"] = {
                k: v for k, v in copy.deepcopy(reply_to).items() if k != "reply_to_message"
            }
        if text is not None:
            content["text"] = text
            entities = detect_entities(text) if entities is None else entities
            if entities:
                content["entities"] = entities
        content.update(extra)
        return content

    def _inbound(
        self,
        chat: JSON,
        user: JSON,
        *,
        reply_to: int | JSON | None = None,
        thread_id: int | None = None,
        **content: Any,
    ) -> JSON:
        if isinstance(reply_to, int):
            target = self._messages.get((chat["id"], reply_to))
            if target is None:
                raise ValueError(f"no message {reply_to} in chat {chat['id']} to reply to")
            reply_to = target
        body = self._content(chat, user, reply_to=reply_to, thread_id=thread_id, **content)
        return self._new_message(chat, user, body)

    def _outbound(self, call: Call, **content: Any) -> JSON:
        """A message from the bot, honouring reply_parameters and message_thread_id."""
        params = call.params
        chat = self._chat(params.get("chat_id"))
        reply = params.get("reply_parameters")
        if reply is None and params.get("reply_to_message_id") is not None:
            reply = {"message_id": params["reply_to_message_id"]}
        target = None
        if isinstance(reply, dict):
            target = self._messages.get((chat["id"], int(reply.get("message_id", 0))))
            allowed = reply.get("allow_sending_without_reply") or params.get(
                "allow_sending_without_reply"
            )
            if target is None and not allowed:
                raise _bad_request("message to be replied not found")
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            content["reply_markup"] = markup  # only inline keyboards show up on the message
        thread = params.get("message_thread_id")
        body = self._content(
            chat,
            self.bot_user,
            reply_to=target,
            thread_id=int(thread) if thread is not None else None,
            **content,
        )
        return self._new_message(chat, self.bot_user, body)

    # ------------------------------------------------------------------ methods

    async def _get_me(self, call: Call) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": self._can_read_all,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _delete_webhook(self, call: Call) -> bool:
        self.webhook = None
        if call.params.get("drop_pending_updates"):
            self._pending.clear()
        self._notify()
        return True

    async def _set_webhook(self, call: Call) -> bool:
        params = call.params
        if not params.get("url"):
            return await self._delete_webhook(call)
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(str(secret)):
            raise _bad_request("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = dict(params)
        self._notify()  # an open long poll now conflicts
        return True

    async def _get_webhook_info(self, call: Call) -> JSON:
        url = self.webhook["url"] if self.webhook else ""
        return {
            "url": url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }

    def _acknowledge(self, offset: int) -> None:
        if offset < 0:
            self._pending = self._pending[offset:]
        elif offset > 0:
            # Redelivered updates are acknowledged only once they have been handed out again.
            self._pending = [
                p for p in self._pending if not (p.delivered and p.update["update_id"] < offset)
            ]

    async def _get_updates(self, call: Call) -> list[JSON]:
        params = call.params
        if self.webhook is not None:
            raise TelegramAPIError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # an older long poll still waiting is terminated (409)
        self._acknowledge(int(params.get("offset") or 0))
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        allowed = params.get("allowed_updates") or None
        if allowed:
            self._pending = [
                p for p in self._pending if set(p.update) - {"update_id"} <= {*allowed}
            ]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(float(params.get("timeout") or 0), 0.0)
        while True:
            batch = self._pending[:limit]
            remaining = deadline - loop.time()
            if batch or self._closing or remaining <= 0:
                break
            self._open_polls += 1
            self._notify()  # for wait_until_polling(); capture the fresh event only afterwards
            changed = self._changed
            try:
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                pass
            finally:
                self._open_polls -= 1
            if self._poll_generation != generation:
                raise TelegramAPIError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            if self.webhook is not None:
                raise TelegramAPIError(409, "Conflict: terminated by setWebhook request")
        for pending in batch:
            pending.delivered = True
        return [copy.deepcopy(p.update) for p in batch]

    async def _send_message(self, call: Call) -> JSON:
        text = call.params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad_request("message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        entities = call.params.get("entities")
        return self._outbound(call, text=text, entities=entities)

    async def _edit_message_text(self, call: Call) -> JSON | bool:
        params = call.params
        if params.get("inline_message_id"):
            return True
        chat = self._chat(params.get("chat_id"))
        key = (chat["id"], int(params.get("message_id") or 0))
        stored = self._messages.get(key)
        if stored is None:
            raise _bad_request("message to edit not found")
        if stored["from"]["id"] != self.bot_user["id"]:
            raise _bad_request("message can't be edited")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad_request("message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        markup = params.get("reply_markup")
        if text == stored.get("text") and markup == stored.get("reply_markup"):
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        stored["text"] = text
        stored["edit_date"] = int(time.time())
        entities = params.get("entities")
        entities = detect_entities(text) if entities is None else entities
        stored.pop("entities", None)
        if entities:
            stored["entities"] = entities
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            stored["reply_markup"] = markup
        return copy.deepcopy(stored)

    async def _send_chat_action(self, call: Call) -> bool:
        self._chat(call.params.get("chat_id"))
        if call.params.get("action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    async def _get_file(self, call: Call) -> JSON:
        stored = self._files.get(str(call.params.get("file_id")))
        if stored is None:
            raise _bad_request("invalid file_id")
        if stored.file_size > MAX_DOWNLOAD_SIZE:
            raise _bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        scope = scope or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(language_code or "")

    async def _set_my_commands(self, call: Call) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad_request("parameter commands is invalid")
        for command in commands:
            name = command.get("command", "") if isinstance(command, dict) else ""
            description = command.get("description", "") if isinstance(command, dict) else ""
            if not _COMMAND_NAME.fullmatch(name):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(call.params.get("scope"), call.params.get("language_code"))
        self._commands[key] = commands
        return True

    async def _delete_my_commands(self, call: Call) -> bool:
        key = self._commands_key(call.params.get("scope"), call.params.get("language_code"))
        self._commands.pop(key, None)
        return True

    async def _get_my_commands(self, call: Call) -> list[JSON]:
        key = self._commands_key(call.params.get("scope"), call.params.get("language_code"))
        return self._commands.get(key, [])

    async def _answer_callback_query(self, call: Call) -> bool:
        if str(call.params.get("callback_query_id")) not in self._callback_ids:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        return True

    async def _send_document(self, call: Call) -> JSON:
        upload = call.files.get("document")
        if upload is not None:
            document = self.add_file(
                upload.data, file_name=upload.filename, mime_type=upload.content_type
            )
        elif str(call.params.get("document")) in self._files:
            document = self._files[str(call.params["document"])].as_document()
        else:
            raise _bad_request("wrong file identifier/HTTP URL specified")
        content: JSON = {"document": document}
        caption = call.params.get("caption")
        if caption is not None:
            if len(caption) > MAX_CAPTION_LENGTH:
                raise _bad_request("message caption is too long")
            content["caption"] = caption
        return self._outbound(call, **content)


async def _read_params(request: web.Request) -> tuple[JSON, dict[str, UploadedFile]]:
    """Query string + body (JSON, urlencoded or multipart) as typed params and file parts."""
    raw: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.content_type == "application/json":
        body = await request.json() if request.can_read_body else {}
        return {**{k: _decode(k, v) for k, v in raw.items()}, **body}, files
    if request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                data = value.file.read()
                files[key] = UploadedFile(key, value.filename, value.content_type, data)
            else:
                raw[key] = value
    return {k: _decode(k, v) for k, v in raw.items()}, files


def _decode(key: str, value: Any) -> Any:
    if key in _RAW_PARAMS or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
