"""The HTTP side of the fake: the Web API under ``/api/<method>``, private file downloads
under ``/files-pri/``, the upload URLs of files.upload v2 and slash commands' ``response_url``."""

from __future__ import annotations

import json
import mimetypes
import time
import uuid
from collections.abc import Callable
from typing import ClassVar

from aiohttp import web

from tests.support.fakes.slack import payloads
from tests.support.fakes.slack.faults import ApiError, Faults
from tests.support.fakes.slack.payloads import Json
from tests.support.fakes.slack.state import ApiCall, Message, Upload, Workspace

#: Slack truncates message text above this many characters.
MAX_TEXT = 40_000
_JSON_FIELDS = ("blocks", "attachments", "metadata", "files")
_LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Slack</title></head>"
    "<body><h1>Sign in to your workspace</h1></body></html>"
)


class WebApi:
    """The Web API methods the Slack adapter uses, over ``ws``, meeting the ``faults`` queued."""

    def __init__(self, ws: Workspace, faults: Faults, *, bot_token: str, app_token: str) -> None:
        self.ws = ws
        self.faults = faults
        self.bot_token = bot_token
        self.app_token = app_token
        self.tickets: set[str] = set()  # single-use Socket Mode connection tickets

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/files-pri/{team_file}/{name}", self._download)
        app.router.add_get("/files-pri/{team_file}/download/{name}", self._download)
        app.router.add_post("/commands/{hook}", self._response_url)
        app.router.add_post("/upload/v1/{file_id}", self._upload)

    # --------------------------------------------------------------- Web API

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: Json = dict(request.query)
        form: Json = {}
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                args |= await request.json()
            else:
                form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        # Slack takes the token from the Authorization header or, in form posts, a field.
        token = bearer(request) or form.pop("token", None)
        args |= form
        for key in _JSON_FIELDS:
            if isinstance(args.get(key), str) and args[key][:1] in "[{":
                args[key] = json.loads(args[key])
        call = ApiCall(method, args, time.monotonic(), token, request.method)
        self.ws.calls.append(call)
        try:
            return self._answer(call)
        finally:
            self.ws.notify()

    def _answer(self, call: ApiCall) -> web.Response:
        failure = self.faults.take(call.method)
        if failure is not None:
            call.status, call.error = failure.status, failure.error
            call.retry_after = failure.retry_after
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
            body = {"ok": False, "error": failure.error}
            return web.json_response(body, status=failure.status, headers=headers)
        try:
            self._check_token(call)
            if call.method in self.faults.overrides:
                result = self.faults.overrides[call.method](call.args)
            elif (impl := self._methods.get(call.method)) is not None:
                result = impl(self, call)
            else:
                raise ApiError("unknown_method")
        except ApiError as e:
            call.error = e.error
            extra = {"req_method": call.method} if e.error == "unknown_method" else {}
            return web.json_response({"ok": False, "error": e.error, **extra})
        return web.json_response({"ok": True, **result})

    def _check_token(self, call: ApiCall) -> None:
        if not call.token:
            raise ApiError("not_authed")
        wanted = self.app_token if call.method == "apps.connections.open" else self.bot_token
        if call.token in (self.app_token, self.bot_token) and call.token != wanted:
            raise ApiError("not_allowed_token_type")
        if call.token != wanted:
            raise ApiError("invalid_auth")

    def _auth_test(self, call: ApiCall) -> Json:
        identity = self.ws.identity
        return payloads.auth_test(identity, self.ws.users[identity.bot_user_id]["name"])

    def _channel(self, call: ApiCall) -> str:
        channel = str(call.args.get("channel", ""))
        if channel in self.ws.users:  # posting to a user id lands in the DM with them
            channel = self.ws.dm_with(channel)
        if channel not in self.ws.conversations:
            raise ApiError("channel_not_found")
        return channel

    def _post_message(self, call: ApiCall) -> Json:
        channel = self._channel(call)
        text = str(call.args.get("text") or call.args.get("markdown_text") or "")
        blocks = call.args.get("blocks")
        if not text and not blocks and not call.args.get("attachments"):
            raise ApiError("no_text")
        thread_ts = call.args.get("thread_ts") or None
        message = Message(channel, self.ws.new_ts(), text[:MAX_TEXT], thread_ts, blocks)
        message.user = self.ws.identity.bot_user_id
        self.ws.messages.append(message)
        shown = payloads.bot_message(
            self.ws.identity,
            user=message.user,
            text=message.text,
            ts=message.ts,
            thread_ts=message.thread_ts,
            blocks=message.blocks,
        )
        return {"channel": channel, "ts": message.ts, "message": shown}

    def _update(self, call: ApiCall) -> Json:
        channel = self._channel(call)
        ts = call.args.get("ts")
        message = next((m for m in self.ws.messages if m.channel == channel and m.ts == ts), None)
        if message is None:
            raise ApiError("message_not_found")
        message.history.append(message.text)
        message.text = str(call.args.get("text") or "")[:MAX_TEXT]
        message.blocks = call.args.get("blocks", message.blocks)
        return {"channel": channel, "ts": ts, "text": message.text}

    def _post_ephemeral(self, call: ApiCall) -> Json:
        channel = self._channel(call)
        if call.args.get("user") not in self.ws.users:
            raise ApiError("user_not_in_channel")
        ts = self.ws.new_ts()
        self.ws.ephemerals.append({"channel": channel, "message_ts": ts, **call.args})
        return {"message_ts": ts}

    def _users_info(self, call: ApiCall) -> Json:
        user = self.ws.users.get(str(call.args.get("user")))
        if user is None:
            raise ApiError("user_not_found")
        return {"user": user}

    def _conversations_info(self, call: ApiCall) -> Json:
        conversation = self.ws.conversations.get(str(call.args.get("channel")))
        if conversation is None:
            raise ApiError("channel_not_found")
        return {"channel": conversation}

    def _files_info(self, call: ApiCall) -> Json:
        stored = self.ws.files.get(str(call.args.get("file")))
        if stored is None:
            raise ApiError("file_not_found")
        return {"file": stored.info, "comments": [], "response_metadata": {"next_cursor": ""}}

    def _reactions_add(self, call: ApiCall) -> Json:
        reaction = {k: call.args.get(k) for k in ("channel", "timestamp", "name")}
        if not reaction["name"]:
            raise ApiError("invalid_name")
        if reaction in self.ws.reactions:
            raise ApiError("already_reacted")
        self.ws.reactions.append(reaction)
        return {}

    def _reactions_remove(self, call: ApiCall) -> Json:
        reaction = {k: call.args.get(k) for k in ("channel", "timestamp", "name")}
        if reaction not in self.ws.reactions:
            raise ApiError("no_reaction")
        self.ws.reactions.remove(reaction)
        return {}

    def _get_upload_url(self, call: ApiCall) -> Json:
        filename, length = call.args.get("filename"), call.args.get("length")
        if not filename or not str(length or "").isdigit():
            raise ApiError("invalid_arguments")
        file_id = f"F0UP{self.ws.next_number():06d}"
        self.ws.pending_uploads[file_id] = (str(filename), None)
        return {"upload_url": f"{self.ws.base_url}/upload/v1/{file_id}", "file_id": file_id}

    def _complete_upload(self, call: ApiCall) -> Json:
        files = call.args.get("files")
        if not isinstance(files, list) or not files:
            raise ApiError("invalid_arguments")
        # Shared to ``channel_id`` (the fake ignores ``channels``), or kept private.
        channel = str(call.args.get("channel_id") or "") or None
        if channel is not None and channel not in self.ws.conversations:
            raise ApiError("channel_not_found")
        shared = []
        for entry in files:
            name, content = self.ws.pending_uploads.get(str(entry.get("id")), ("", None))
            if content is None:
                raise ApiError("file_not_found")  # never uploaded, or already completed
            del self.ws.pending_uploads[str(entry["id"])]
            title = str(entry.get("title") or name)
            mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            bot = self.ws.identity.bot_user_id
            self.ws.add_file(entry["id"], content, name=name, mimetype=mimetype, user=bot)
            self.ws.files[entry["id"]].info["title"] = title
            self.ws.uploads.append(
                Upload(
                    entry["id"],
                    name,
                    title,
                    content,
                    channel,
                    call.args.get("thread_ts") or None,
                    call.args.get("initial_comment") or None,
                )
            )
            shared.append(dict(self.ws.files[entry["id"]].info))
        return {"files": shared}

    def _connections_open(self, call: ApiCall) -> Json:
        ticket = uuid.uuid4().hex
        self.tickets.add(ticket)
        app_id = self.ws.identity.app_id
        return {"url": f"ws://127.0.0.1:{self.ws.port}/link/?ticket={ticket}&app_id={app_id}"}

    _methods: ClassVar[dict[str, Callable[[WebApi, ApiCall], Json]]] = {
        "auth.test": _auth_test,
        "chat.postMessage": _post_message,
        "chat.update": _update,
        "chat.postEphemeral": _post_ephemeral,
        "users.info": _users_info,
        "conversations.info": _conversations_info,
        "files.info": _files_info,
        "reactions.add": _reactions_add,
        "reactions.remove": _reactions_remove,
        "files.getUploadURLExternal": _get_upload_url,
        "files.completeUploadExternal": _complete_upload,
        "apps.connections.open": _connections_open,
    }

    # ------------------------------------------------------ files and response_url

    async def _download(self, request: web.Request) -> web.Response:
        team_id = self.ws.identity.team_id
        file_id = request.match_info["team_file"].removeprefix(f"{team_id}-")
        stored = self.ws.files.get(file_id)
        authorized = bearer(request) == self.bot_token
        self.ws.downloads.append((file_id, authorized))
        self.ws.notify()
        if not authorized:  # real Slack answers a sign-in page, still with status 200
            return web.Response(text=_LOGIN_PAGE, content_type="text/html")
        if file_id in self.ws.pages_instead:
            return web.Response(text=self.ws.pages_instead[file_id], content_type="text/html")
        if stored is None:
            return web.Response(status=404, text="file not found")
        return web.Response(body=stored.content, content_type=stored.info["mimetype"])

    async def _upload(self, request: web.Request) -> web.Response:
        """The second step of files.upload v2: the raw bytes, POSTed to the issued URL."""
        file_id = request.match_info["file_id"]
        if file_id not in self.ws.pending_uploads:
            return web.Response(status=404, text="unknown upload")
        name, _ = self.ws.pending_uploads[file_id]
        content = await request.read()
        self.ws.pending_uploads[file_id] = (name, content)
        self.ws.notify()
        return web.Response(text=f"OK - {len(content)}")

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.ws.responses.append({"hook": request.match_info["hook"], **body})
        self.ws.notify()
        return web.Response(text="ok")


def bearer(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return None
    return auth.removeprefix("Bearer ").strip() or None
