"""The HTTP side of the fake Bot API: ``/bot<token>/<method>`` and ``/file/bot<token>/<path>``.

Requests are read like the real Bot API reads them (form-encoded with JSON-string values,
JSON, or multipart), answered in ``{"ok": ...}`` envelopes with the HTTP status equal to
``error_code``, and recorded as :class:`~tests.support.fakes.telegram.state.Call`.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.support.fakes.telegram.faults import Faults, TelegramAPIError, bad_request
from tests.support.fakes.telegram.payloads import (
    JSON,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    detect_entities,
)
from tests.support.fakes.telegram.state import MAX_DOWNLOAD_SIZE, BotState, Call, UploadedFile

Handler = Callable[[Call], Awaitable[Any]]

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


class BotApi:
    """The Bot API methods PTB uses, over ``state``, meeting the ``faults`` queued."""

    def __init__(self, state: BotState, faults: Faults, *, can_read_all: bool) -> None:
        self.state = state
        self.faults = faults
        self.open_polls = 0  # getUpdates calls waiting for updates right now
        self.closing = False  # the server is stopping: open long polls return at once
        self._can_read_all = can_read_all
        self._poll_generation = 0
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

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._serve_file)

    # ------------------------------------------------------------------ HTTP plumbing

    async def _api(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        token = request.match_info["token"]
        name = request.match_info["method"]
        self.state.tokens.add(token)
        try:
            params, files = await _read_params(request)
        except ConnectionError:  # the client gave up mid-request (e.g. PTB cancelled a poll)
            return web.Response(status=499)
        canonical, handler = self._handlers.get(name.lower(), (name, None))
        call = Call(method=canonical, params=params, token=token, at=at, files=files)
        failure = self.faults.take(name)
        try:
            if failure is not None and failure.error is None:
                call.dropped, call.status = True, 0
                self.state.record(call)
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
        self.state.record(call)
        if call.error is not None:
            return web.json_response(call.error, status=call.status)
        return web.json_response({"ok": True, "result": call.result})

    async def _serve_file(self, request: web.Request) -> web.Response:
        self.state.tokens.add(request.match_info["token"])
        path = request.match_info["path"]
        for stored in self.state.files.values():
            if stored.file_path == path:
                self.state.downloads.append(path)
                return web.Response(body=stored.data, content_type="application/octet-stream")
        body = {"ok": False, "error_code": 404, "description": "Not Found"}
        return web.json_response(body, status=404)

    # ------------------------------------------------------------------ methods

    async def _get_me(self, call: Call) -> JSON:
        return {
            **self.state.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": self._can_read_all,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _delete_webhook(self, call: Call) -> bool:
        self.state.webhook = None
        if call.params.get("drop_pending_updates"):
            self.state.pending.clear()
        self.state.notify()
        return True

    async def _set_webhook(self, call: Call) -> bool:
        params = call.params
        if not params.get("url"):
            return await self._delete_webhook(call)
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(str(secret)):
            raise bad_request("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self.state.pending.clear()
        self.state.webhook = dict(params)
        self.state.notify()  # an open long poll now conflicts
        return True

    async def _get_webhook_info(self, call: Call) -> JSON:
        webhook = self.state.webhook
        return {
            "url": webhook["url"] if webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.state.pending),
        }

    async def _get_updates(self, call: Call) -> list[JSON]:
        state, params = self.state, call.params
        if state.webhook is not None:
            raise TelegramAPIError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._poll_generation += 1
        generation = self._poll_generation
        state.notify()  # an older long poll still waiting is terminated (409)
        state.acknowledge(int(params.get("offset") or 0))
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        allowed = params.get("allowed_updates") or None
        if allowed:
            kinds = {*allowed, "update_id"}
            state.pending = [p for p in state.pending if set(p.update) <= kinds]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(float(params.get("timeout") or 0), 0.0)
        while True:
            batch = state.pending[:limit]
            remaining = deadline - loop.time()
            if batch or self.closing or remaining <= 0:
                break
            self.open_polls += 1
            state.notify()  # for wait_until_polling(); capture the fresh event only afterwards
            changed = state.changed
            try:
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                pass
            finally:
                self.open_polls -= 1
            if self._poll_generation != generation:
                raise TelegramAPIError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            if state.webhook is not None:
                raise TelegramAPIError(409, "Conflict: terminated by setWebhook request")
        for pending in batch:
            pending.delivered = True
        return [copy.deepcopy(p.update) for p in batch]

    async def _send_message(self, call: Call) -> JSON:
        text = call.params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        entities = call.params.get("entities")
        return self.state.outbound(call, text=text, entities=entities)

    async def _edit_message_text(self, call: Call) -> JSON | bool:
        params = call.params
        if params.get("inline_message_id"):
            return True
        chat = self.state.chat(params.get("chat_id"))
        stored = self.state.message(chat["id"], int(params.get("message_id") or 0))
        if stored is None:
            raise bad_request("message to edit not found")
        if stored["from"]["id"] != self.state.bot_user["id"]:
            raise bad_request("message can't be edited")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        markup = params.get("reply_markup")
        if text == stored.get("text") and markup == stored.get("reply_markup"):
            raise bad_request(
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
        self.state.chat(call.params.get("chat_id"))
        if call.params.get("action") not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    async def _get_file(self, call: Call) -> JSON:
        stored = self.state.files.get(str(call.params.get("file_id")))
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.file_size > MAX_DOWNLOAD_SIZE:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }

    def _menu_key(self, call: Call) -> tuple[str, str]:
        return self.state.menu_key(call.params.get("scope"), call.params.get("language_code"))

    async def _set_my_commands(self, call: Call) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("parameter commands is invalid")
        for command in commands:
            name = command.get("command", "") if isinstance(command, dict) else ""
            description = command.get("description", "") if isinstance(command, dict) else ""
            if not _COMMAND_NAME.fullmatch(name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.state.menus[self._menu_key(call)] = commands
        return True

    async def _delete_my_commands(self, call: Call) -> bool:
        self.state.menus.pop(self._menu_key(call), None)
        return True

    async def _get_my_commands(self, call: Call) -> list[JSON]:
        return self.state.menus.get(self._menu_key(call), [])

    async def _answer_callback_query(self, call: Call) -> bool:
        if str(call.params.get("callback_query_id")) not in self.state.callback_ids:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        return True

    async def _send_document(self, call: Call) -> JSON:
        upload = call.files.get("document")
        if upload is not None:
            document = self.state.add_file(
                upload.data, file_name=upload.filename, mime_type=upload.content_type
            )
        elif str(call.params.get("document")) in self.state.files:
            document = self.state.files[str(call.params["document"])].as_document()
        else:
            raise bad_request("wrong file identifier/HTTP URL specified")
        content: JSON = {"document": document}
        caption = call.params.get("caption")
        if caption is not None:
            if len(caption) > MAX_CAPTION_LENGTH:
                raise bad_request("message caption is too long")
            content["caption"] = caption
        return self.state.outbound(call, **content)


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
