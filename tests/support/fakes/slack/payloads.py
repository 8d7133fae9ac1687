"""Slack objects as Slack builds them: users, conversations, files, events, slash commands,
and the bot's messages, for one workspace (:class:`Identity`)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True)
class Identity:
    """Who is who in the workspace."""

    team_id: str
    app_id: str
    bot_user_id: str
    bot_id: str
    user_id: str  # the default human sender of events


def channel_type(channel: str) -> str:
    return {"D": "im", "G": "group"}.get(channel[:1], "channel")


def user(
    ws: Identity, user_id: str, name: str, *, real_name: str | None = None, is_bot: bool = False
) -> Json:
    real = real_name or name
    return {
        "id": user_id,
        "team_id": ws.team_id,
        "name": name,
        "deleted": False,
        "real_name": real,
        "tz": "Europe/London",
        "tz_label": "Greenwich Mean Time",
        "tz_offset": 0,
        "is_bot": is_bot,
        "is_admin": False,
        "is_app_user": False,
        "updated": int(time.time()),
        "profile": {"real_name": real, "display_name": name, "team": ws.team_id},
    }


def channel(channel_id: str, name: str, *, is_private: bool = False) -> Json:
    return {
        "id": channel_id,
        "name": name,
        "name_normalized": name,
        "is_channel": not is_private,
        "is_group": is_private,
        "is_im": False,
        "is_mpim": False,
        "is_private": is_private,
        "is_archived": False,
        "is_member": True,
        "created": int(time.time()),
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0},
    }


def im(channel_id: str, user_id: str) -> Json:
    return {
        "id": channel_id,
        "created": int(time.time()),
        "is_im": True,
        "is_org_shared": False,
        "user": user_id,
        "is_user_deleted": False,
        "priority": 0,
    }


def file(
    ws: Identity,
    base_url: str,
    file_id: str,
    size: int,
    *,
    name: str,
    mimetype: str,
    filetype: str,
    user: str | None,
) -> Json:
    """A file object as files.info shows it, downloadable from ``base_url``."""
    base = f"{base_url}/files-pri/{ws.team_id}-{file_id}"
    return {
        "id": file_id,
        "created": int(time.time()),
        "timestamp": int(time.time()),
        "name": name,
        "title": name,
        "mimetype": mimetype,
        "filetype": filetype,
        "pretty_type": filetype.upper(),
        "user": user or ws.user_id,
        "user_team": ws.team_id,
        "mode": "hosted",
        "editable": False,
        "is_external": False,
        "is_public": False,
        "size": size,
        "url_private": f"{base}/{name}",
        "url_private_download": f"{base}/download/{name}",
        "permalink": f"https://fake.slack.com/files/{user or ws.user_id}/{file_id}/{name}",
    }


def message_event(
    ws: Identity,
    text: str,
    *,
    ts: str,
    channel: str,
    user: str | None,
    channel_type_: str | None,
    thread_ts: str | None,
    files: list[Json],
    mention: bool,
) -> Json:
    event: Json = {
        "type": "message",
        "user": user or ws.user_id,
        "text": f"<@{ws.bot_user_id}> {text}" if mention else text,
        "ts": ts,
        "event_ts": ts,
        "team": ws.team_id,
        "channel": channel,
        "channel_type": channel_type_ or channel_type(channel),
        "client_msg_id": str(uuid.uuid4()),
    }
    if thread_ts is not None:
        event |= {"thread_ts": thread_ts, "parent_user_id": ws.user_id}
    if files:
        event |= {
            "subtype": "file_share",
            "files": files,
            "upload": False,
            "display_as_bot": False,
        }
    return event


def message_changed_event(
    ts: str, new_text: str, *, now: str, old_text: str, channel: str, user: str
) -> Json:
    previous = {"type": "message", "user": user, "text": old_text, "ts": ts}
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": channel,
        "channel_type": channel_type(channel),
        "ts": now,
        "event_ts": now,
        "message": previous | {"text": new_text, "edited": {"user": user, "ts": now}},
        "previous_message": previous,
    }


def event_callback(ws: Identity, event: Json, *, event_id: str | None = None) -> Json:
    return {
        "token": "fake-verification-token",
        "team_id": ws.team_id,
        "api_app_id": ws.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": ws.team_id,
                "user_id": ws.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{uuid.uuid4().hex}",
    }


def slash_command(
    ws: Identity,
    command: str,
    text: str,
    *,
    user: str,
    user_name: str,
    channel: str,
    channel_name: str,
    response_url: str,
    trigger: int,
) -> dict[str, str]:
    return {
        "token": "fake-verification-token",
        "team_id": ws.team_id,
        "team_domain": "fake",
        "channel_id": channel,
        "channel_name": channel_name,
        "user_id": user,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": ws.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"{trigger}.{uuid.uuid4().hex[:12]}",
    }


def bot_message(
    ws: Identity, *, user: str | None, text: str, ts: str, thread_ts: str | None, blocks: Any
) -> Json:
    """A message the bot posted, as chat.postMessage returns it."""
    body: Json = {
        "type": "message",
        "user": user,
        "bot_id": ws.bot_id,
        "app_id": ws.app_id,
        "text": text,
        "ts": ts,
        "team": ws.team_id,
    }
    if thread_ts:
        body["thread_ts"] = thread_ts
    if blocks is not None:
        body["blocks"] = blocks
    return body


def auth_test(ws: Identity, bot_name: str) -> Json:
    return {
        "url": "https://fake.slack.com/",
        "team": "Fake Team",
        "user": bot_name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


def hello(num_connections: int, app_id: str) -> Json:
    """The first message on a Socket Mode connection."""
    return {
        "type": "hello",
        "num_connections": num_connections,
        "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
        "connection_info": {"app_id": app_id},
    }
