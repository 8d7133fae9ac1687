"""What both clients share: the request a ``Call`` makes and how a response is read."""

from __future__ import annotations

import os
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from pagemind_client.calls import Call
from pagemind_client.errors import APIError, error_for

R = TypeVar("R", bound=BaseModel)

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 60.0


def settings(base_url: str | None, api_key: str | None) -> tuple[str, str | None]:
    """The base URL and key, from the arguments or ``PAGEMIND_API_URL`` and
    ``PAGEMIND_API_KEY``."""
    url = base_url or os.environ.get("PAGEMIND_API_URL") or DEFAULT_BASE_URL
    return url.rstrip("/"), api_key or os.environ.get("PAGEMIND_API_KEY")


def headers(api_key: str | None) -> dict[str, str]:
    found = {"Accept": "application/json", "User-Agent": "pagemind-client"}
    if api_key:
        found["Authorization"] = f"Bearer {api_key}"
    return found


def request_args(call: Call[Any]) -> dict[str, Any]:
    args: dict[str, Any] = {"params": call.query()}
    if call.body is not None:
        args["content"] = call.body.model_dump_json(exclude_unset=False).encode()
        args["headers"] = {"Content-Type": "application/json"}
    if call.files is not None:
        args["files"] = call.files
    return args


def read(call: Call[R], response: httpx.Response) -> R:
    """The call's model from a successful response; the matching ``APIError`` otherwise
    (a 202 from a change still queued is one too: it was not applied yet)."""
    ok = 200 <= response.status_code < 300
    if ok and not (response.status_code == 202 and _queued(response)):
        return call.returns.model_validate(response.json())
    try:
        body: object = response.json()
    except ValueError:
        body = response.text
    raise error_for(response.status_code, body, response.headers.get("Retry-After"))


def _queued(response: httpx.Response) -> bool:
    """A 202 that is a change queued for an agent (an error body), not an accepted job."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "error" in body


__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "APIError", "headers", "read", "request_args"]
