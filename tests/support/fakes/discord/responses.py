"""HTTP answers in Discord's shape."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.support.fakes.discord.payloads import Json


def json_response(body: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": discord.py compares the header verbatim, a charset breaks it.
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )


def error(status: int, message: str, code: int = 0, errors: Json | None = None) -> web.Response:
    body: Json = {"message": message, "code": code}
    if errors is not None:
        body["errors"] = errors
    return json_response(body, status)


def form_error(field_name: str, code: str, message: str) -> web.Response:
    errors = {field_name: {"_errors": [{"code": code, "message": message}]}}
    return error(400, "Invalid Form Body", 50035, errors)
