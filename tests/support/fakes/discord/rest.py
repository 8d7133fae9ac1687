"""The HTTP side of the fake: the REST API under ``/api/v10`` (what ``discord.http.Route.BASE``
points at), interaction webhooks, and a tiny CDN under ``/attachments``. Every request is
recorded as a :class:`~tests.support.fakes.discord.state.RecordedCall`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from tests.support.fakes.discord import payloads
from tests.support.fakes.discord.faults import Faults
from tests.support.fakes.discord.gateway import Gateway
from tests.support.fakes.discord.payloads import EPHEMERAL, LOADING, SLASH_COMMAND, Json
from tests.support.fakes.discord.responses import error, form_error, json_response
from tests.support.fakes.discord.state import FakeChannel, RecordedCall, World

API_PREFIX = "/api/v10"
_Files = list[tuple[str, bytes, str]]  # uploaded (filename, data, content type)
_PAYLOAD = web.RequestKey("payload", object)  # parsed JSON body (or multipart payload_json)
_FILES = web.RequestKey("files", list)  # _Files
_GUILD_COMMANDS = "/applications/{application_id}/guilds/{guild_id}/commands"
_WEBHOOK_MESSAGE = "/webhooks/{application_id}/{token}/messages/{message_id}"


class RestApi:
    """``nonce_window``: how long a message nonce sent with ``enforce_nonce`` is remembered;
    ``echo_own_messages``: the bot's own messages come back over the gateway, as on Discord."""

    def __init__(
        self,
        world: World,
        faults: Faults,
        gateway: Gateway,
        *,
        token: str,
        nonce_window: float,
        echo_own_messages: bool,
    ) -> None:
        self.world = world
        self.faults = faults
        self.gateway = gateway
        self.token = token
        self.nonce_window = nonce_window
        self.echo_own_messages = echo_own_messages

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        for method, path, handler in self._routes():
            app.router.add_route(method, API_PREFIX + path, handler)
        self.gateway.add_routes(app)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._cdn)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    # ------------------------------------------------------------------ HTTP plumbing

    def _routes(self) -> list[tuple[str, str, Callable[[web.Request], Any]]]:
        return [
            ("GET", "/users/@me", self._get_me),
            ("GET", "/oauth2/applications/@me", self._get_application),
            ("POST", "/users/@me/channels", self._open_dm),
            ("GET", "/channels/{channel_id}", self._get_channel),
            ("POST", "/channels/{channel_id}/messages", self._post_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._patch_message),
            ("POST", "/channels/{channel_id}/typing", self._typing),
            ("GET", "/applications/{application_id}/commands", self._get_commands),
            ("PUT", "/applications/{application_id}/commands", self._put_commands),
            ("GET", _GUILD_COMMANDS, self._get_commands),
            ("PUT", _GUILD_COMMANDS, self._put_commands),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self._callback),
            ("POST", "/webhooks/{application_id}/{token}", self._followup),
            ("GET", _WEBHOOK_MESSAGE, self._webhook_message),
            ("PATCH", _WEBHOOK_MESSAGE, self._webhook_message),
            ("DELETE", _WEBHOOK_MESSAGE, self._webhook_message),
        ]

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if request.path.startswith("/gateway"):
            return await handler(request)
        path = request.path.removeprefix(API_PREFIX)
        resource = request.match_info.route.resource
        route = path  # unknown routes (the catch-all) are recorded under their concrete path
        if resource is not None and "tail" not in request.match_info:
            route = resource.canonical.removeprefix(API_PREFIX)
        try:
            payload, files = await _read_body(request)
        except ValueError:
            payload, files = None, []
            response = error(400, "The request body contains invalid JSON.", 50109)
        else:
            response = self.faults.take(request.method, path, route)
        request[_PAYLOAD], request[_FILES] = payload, files
        if response is None and self._needs_auth(request, route):
            response = error(401, "401: Unauthorized")
        if response is None:
            response = await handler(request)
        self.world.calls.append(
            RecordedCall(
                request.method,
                path,
                route,
                dict(request.query),
                payload,
                tuple(name for name, _, _ in files),
                response.status,
                time.monotonic(),
            )
        )
        self.world.notify()
        return response

    def _needs_auth(self, request: web.Request, route: str) -> bool:
        if not request.path.startswith(API_PREFIX) or route.startswith(
            ("/webhooks", "/interactions")
        ):
            return False
        return request.headers.get("Authorization") != f"Bot {self.token}"

    async def _not_found(self, request: web.Request) -> web.Response:
        return error(404, "404: Not Found")

    async def _cdn(self, request: web.Request) -> web.Response:
        found = self.world.files.get(int(request.match_info["attachment_id"]))
        if found is None:
            return web.Response(status=404, text="Not Found")
        data, ctype = found
        return web.Response(body=data, headers={"Content-Type": ctype})

    # ------------------------------------------------------------------ REST handlers

    async def _get_me(self, request: web.Request) -> web.Response:
        return json_response(payloads.me(self.world.bot))

    async def _get_application(self, request: web.Request) -> web.Response:
        world = self.world
        flags = payloads.application_flags(self.gateway.allowed_intents)
        return json_response(
            payloads.application(world.bot, world.user, world.application_id, flags)
        )

    async def _open_dm(self, request: web.Request) -> web.Response:
        user = self.world.users.get(int(request[_PAYLOAD]["recipient_id"]))
        if user is None:
            return error(404, "Unknown User", 10013)
        return json_response(self.world.channel_payload(self.world.dm_channel(user)))

    def _channel(self, request: web.Request) -> FakeChannel | None:
        return self.world.channels.get(int(request.match_info["channel_id"]))

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel is None:
            return error(404, "Unknown Channel", 10003)
        return json_response(self.world.channel_payload(channel))

    async def _typing(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel is None:
            return error(404, "Unknown Channel", 10003)
        self.world.typing_calls.append(channel.id)
        return web.Response(status=204)

    async def _post_message(self, request: web.Request) -> web.Response:
        world = self.world
        channel = self._channel(request)
        if channel is None:
            return error(404, "Unknown Channel", 10003)
        body: Json = request[_PAYLOAD] or {}
        files: _Files = request[_FILES]
        content = body.get("content") or ""
        if len(content) > 2000:
            return form_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
        if not (content or body.get("embeds") or files or body.get("sticker_ids")):
            return error(400, "Cannot send an empty message", 50006)
        nonce = body.get("nonce")
        key = (world.bot.id, str(nonce))
        if nonce is not None and body.get("enforce_nonce"):
            seen = world.nonces.get(key)
            if seen and time.monotonic() - seen[0] < self.nonce_window:
                return json_response(world.messages[seen[1]])
        reply_to = None
        reference = body.get("message_reference")
        if reference and reference.get("message_id"):
            reply_to = world.messages.get(int(reference["message_id"]))
            if reply_to is None and reference.get("fail_if_not_exists", True):
                return form_error("message_reference", "REPLIES_UNKNOWN_MESSAGE", "Unknown message")
        replied_ping = (body.get("allowed_mentions") or {}).get("replied_user", True)
        attachments = [world.add_attachment(name, data, ctype) for name, data, ctype in files]
        message = world.create_message(
            channel,
            world.bot,
            content,
            attachments,
            reply_to,
            replied_ping,
            embeds=body.get("embeds") or [],
            flags=body.get("flags") or 0,
        )
        if nonce is not None:
            message["nonce"] = nonce
            world.nonces[key] = (time.monotonic(), int(message["id"]))
        world.sent.append(int(message["id"]))
        await self._echo("MESSAGE_CREATE", message)
        return json_response(message)

    async def _get_message(self, request: web.Request) -> web.Response:
        message = self.world.messages.get(int(request.match_info["message_id"]))
        if message is None or message["channel_id"] != request.match_info["channel_id"]:
            return error(404, "Unknown Message", 10008)
        return json_response(message)

    async def _patch_message(self, request: web.Request) -> web.Response:
        message = self.world.messages.get(int(request.match_info["message_id"]))
        if message is None or message["channel_id"] != request.match_info["channel_id"]:
            return error(404, "Unknown Message", 10008)
        if message["author"]["id"] != str(self.world.bot.id):
            return error(403, "Cannot edit a message authored by another user", 50005)
        await self._edit(message, request[_PAYLOAD] or {})
        return json_response(message)

    async def _edit(self, message: Json, body: Json) -> None:
        for key in ("content", "embeds", "flags", "components"):
            if key in body and body[key] is not None:
                message[key] = body[key]
        message["edited_timestamp"] = payloads.now_iso()
        await self._echo("MESSAGE_UPDATE", message)

    async def _echo(self, event: str, message: Json) -> None:
        """Send the bot's own message back over the gateway, as Discord does (not ephemerals)."""
        if self.echo_own_messages and self.gateway.session and not message["flags"] & EPHEMERAL:
            await self.gateway.dispatch(event, self.world.gateway_message(message))

    def _guild_key(self, request: web.Request) -> int | None:
        guild_id = request.match_info.get("guild_id")
        return int(guild_id) if guild_id else None

    async def _get_commands(self, request: web.Request) -> web.Response:
        return json_response(self.world.commands.get(self._guild_key(request), []))

    async def _put_commands(self, request: web.Request) -> web.Response:
        world = self.world
        if request.match_info["application_id"] != str(world.application_id):
            return error(403, "Missing Access", 50001)
        guild_id = self._guild_key(request)
        old = {c["name"]: c["id"] for c in world.commands.get(guild_id, [])}
        synced = []
        for command in request[_PAYLOAD] or []:
            entry = {"type": 1, "options": [], "nsfw": False} | command
            entry |= {
                "id": old.get(command["name"]) or str(world.ids.next()),
                "application_id": str(world.application_id),
                "version": str(world.ids.next()),
                "default_member_permissions": command.get("default_member_permissions"),
            }
            if guild_id is not None:
                entry["guild_id"] = str(guild_id)
            synced.append(entry)
        world.commands[guild_id] = synced
        return json_response(synced)

    async def _callback(self, request: web.Request) -> web.Response:
        found = self.world.interactions.get(int(request.match_info["interaction_id"]))
        if found is None or found["payload"]["token"] != request.match_info["token"]:
            return error(404, "Unknown interaction", 10062)
        if found["responded"]:
            return error(400, "Interaction has already been acknowledged.", 40060)
        found["responded"] = True
        interaction = found["payload"]
        body: Json = request[_PAYLOAD] or {}
        kind, data = body.get("type"), body.get("data") or {}
        message = None
        if kind in (4, 5):  # CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
            flags = (data.get("flags") or 0) | (LOADING if kind == 5 else 0)
            message = await self._interaction_message(interaction, data, flags)
            self.world.original[interaction["token"]] = int(message["id"])
        self.world.interaction_responses.append(
            {"interaction_id": int(interaction["id"]), "token": interaction["token"]}
            | {"type": kind, "data": data, "message_id": message and int(message["id"])}
        )
        if request.query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        callback: Json = {
            "id": interaction["id"],
            "type": 2,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(message and message["flags"] & EPHEMERAL),
        }
        resource: Json = {"type": kind}
        if message is not None:
            callback["response_message_id"] = message["id"]
            resource["message"] = message
        return json_response({"interaction": callback, "resource": resource})

    async def _interaction_message(
        self, interaction: Json, data: Json, flags: int, attachments: Sequence[Json] = ()
    ) -> Json:
        world = self.world
        user = interaction.get("user") or interaction["member"]["user"]
        message = world.create_message(
            world.channels[int(interaction["channel_id"])],
            world.bot,
            data.get("content") or "",
            attachments,
            type=SLASH_COMMAND,
            flags=flags,
            embeds=data.get("embeds") or [],
            webhook_id=str(world.application_id),
            application_id=str(world.application_id),
            interaction_metadata={
                "id": interaction["id"],
                "type": 2,
                "user": user,
                "authorizing_integration_owners": interaction["authorizing_integration_owners"],
                "name": interaction["data"]["name"],
            },
        )
        await self._echo("MESSAGE_CREATE", message)
        return message

    def _interaction_by_token(self, request: web.Request) -> Json | None:
        if request.match_info["application_id"] != str(self.world.application_id):
            return None
        token = request.match_info["token"]
        for found in self.world.interactions.values():
            if found["payload"]["token"] == token:
                return found["payload"]
        return None

    async def _followup(self, request: web.Request) -> web.Response:
        interaction = self._interaction_by_token(request)
        if interaction is None:
            return error(404, "Unknown Webhook", 10015)
        data: Json = request[_PAYLOAD] or {}
        files: _Files = request[_FILES]  # uploaded files become the message's attachments
        attachments = [self.world.add_attachment(n, blob, ctype) for n, blob, ctype in files]
        flags = data.get("flags") or 0
        message = await self._interaction_message(interaction, data, flags, attachments)
        self.world.followups.append(message)
        if request.query.get("wait") in ("1", "true", "True"):
            return json_response(message)
        return web.Response(status=204)

    async def _webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._interaction_by_token(request)
        if interaction is None:
            return error(404, "Unknown Webhook", 10015)
        raw_id = request.match_info["message_id"]
        if raw_id == "@original":
            message_id = self.world.original.get(interaction["token"])
        else:
            message_id = int(raw_id)
        message = self.world.messages.get(message_id) if message_id is not None else None
        if message is None:
            return error(404, "Unknown Message", 10008)
        if request.method == "DELETE":
            del self.world.messages[int(message["id"])]
            return web.Response(status=204)
        if request.method == "PATCH":
            message["flags"] &= ~LOADING
            await self._edit(message, request[_PAYLOAD] or {})
        return json_response(message)


async def _read_body(request: web.Request) -> tuple[Any, _Files]:
    if not request.can_read_body:
        return None, []
    if request.content_type != "multipart/form-data":
        raw = await request.read()
        return (json.loads(raw) if raw else None), []
    payload: Any = None
    files: _Files = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        data = await part.read()  # type: ignore[union-attr]
        if part.filename:
            ctype = part.headers.get("Content-Type", "application/octet-stream")
            files.append((part.filename, bytes(data), ctype))
        elif part.name == "payload_json":
            payload = json.loads(data)
    return payload, files
