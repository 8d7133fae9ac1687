"""What both clients share: the request a ``Call`` makes and how a response is read."""

from __future__ import annotations

import json
import os
from typing import Any, TypeVar, cast

import httpx
from pydantic import BaseModel

from pagemind_client import models as m
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
    args: dict[str, Any] = {"params": call.query(), "headers": dict(call.headers)}
    if call.body is not None:
        args["content"] = call.body.model_dump_json(exclude_unset=False).encode()
        args["headers"]["Content-Type"] = "application/json"
    if call.files is not None:
        args["files"] = call.files
    return args


def read(call: Call[R], response: httpx.Response) -> R:
    """The call's model from a successful response; the matching ``APIError`` otherwise
    (a 202 from a change still queued is one too: it was not applied yet)."""
    ok = 200 <= response.status_code < 300
    if ok and not (response.status_code == 202 and call.method == "PUT"):
        return call.returns.model_validate(response.json())
    try:
        body: object = response.json()
    except ValueError:
        body = response.text
    raise error_for(response.status_code, body, response.headers.get("Retry-After"))


__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "APIError", "headers", "read", "request_args"]


_STEPS: dict[str, type[BaseModel]] = {
    "thought": m.ThoughtStep,
    "function_call": m.FunctionCallStep,
    "function_result": m.FunctionResultStep,
    "reply": m.ReplyStep,
    "done": m.DoneStep,
}


class StepEvents:
    """Reads a turn's server-sent events, line by line, into typed steps."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def line(self, line: str) -> m.TurnStep | None:
        """The step a blank line ends, if any."""
        if line.startswith("event:"):
            self._event = line[6:].strip()
        elif line.startswith("data:"):
            self._data.append(line[5:].lstrip())
        elif not line and self._data:
            kind, data = self._event, "\n".join(self._data)
            self._event, self._data = "", []
            model = _STEPS.get(kind)
            if model is not None:
                return cast(m.TurnStep, model.model_validate_json(data))
        return None


def raise_for(response: httpx.Response, body: bytes) -> None:
    """The server's error for a streamed response that is not a stream."""
    try:
        parsed: object = json.loads(body)
    except ValueError:
        parsed = body.decode(errors="replace")
    raise error_for(response.status_code, parsed, response.headers.get("Retry-After"))
