"""A scripted OpenAI-compatible HTTP server on 127.0.0.1: a TEST DOUBLE, never a demo model.

It speaks enough of ``/v1/chat/completions`` (and ``/v1/embeddings``) for the real ``openai``
SDK: tool calls, plain content, usage, and scripted failures (429 with Retry-After, 5xx,
context-length errors, garbage). Every request body is recorded with its arrival time.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Reply = dict[str, Any]


def tool_reply(name: str, arguments: dict[str, Any] | str, *, content: str | None = None) -> Reply:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"tool_calls": [(name, args)], "content": content}


def _always(body: dict[str, Any]) -> bool:
    return True


@dataclass
class Held:
    """A reply the server holds until the test sets ``release``: to act while the model is
    still thinking. ``reached`` is set once a request is held; with ``when``, only the
    requests it accepts are held (the others are answered at once)."""

    answer: Reply | Callable[[dict[str, Any]], Reply]
    when: Callable[[dict[str, Any]], bool] = _always
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, body: dict[str, Any]) -> Reply:
        if self.when(body):
            self.reached.set()
            await self.release.wait()
        return self.answer(body) if callable(self.answer) else self.answer


def text_reply(content: str) -> Reply:
    return {"content": content}


def error_reply(
    status: int,
    message: str = "error",
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    return {"status": status, "message": message, "code": code, "headers": headers or {}}


def context_error() -> Reply:
    return error_reply(
        400,
        "This model's maximum context length is 8192 tokens. "
        "However, your messages resulted in 9000 tokens.",
        code="context_length_exceeded",
    )


@dataclass
class ScriptedOpenAIServer:
    script: deque[Reply | Callable[[dict[str, Any]], Reply]] = field(default_factory=deque)
    default: Reply | None = None
    requests: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    # each chat request as it came: the body's bytes and the headers
    raw_requests: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    embedding_requests: list[dict[str, Any]] = field(default_factory=list)
    embedding_dim: int = 8
    delay: float = 0.0
    embedding_delay: float = 0.0
    # GET /v1/models lists these; with ``only_listed`` a chat for another model gets a 404.
    models: list[str] = field(default_factory=lambda: ["scripted", "scripted-embed"])
    only_listed: bool = False
    models_reply: Reply | None = None  # an error_reply for GET /v1/models
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def add(self, *replies: Reply | Callable[[dict[str, Any]], Reply]) -> None:
        self.script.extend(replies)

    async def start(self) -> ScriptedOpenAIServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> ScriptedOpenAIServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _models(self, request: web.Request) -> web.Response:
        if self.models_reply is not None:
            r = self.models_reply
            return _error(r["status"], r["message"], r.get("code"), r.get("headers", {}))
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw)
        if self.only_listed and body.get("model") not in self.models:
            return _error(404, f"The model `{body.get('model')}` does not exist.", None, {})
        self.requests.append((time.monotonic(), body))
        self.raw_requests.append((raw, dict(request.headers)))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.script:
            reply = self.script.popleft()
        elif self.default is not None:
            reply = self.default
        else:
            return _error(
                500, "scripted server: script exhausted", None, {"x-should-retry": "false"}
            )
        if callable(reply):
            reply = reply(body)
            if inspect.isawaitable(reply):
                reply = await reply
        if "status" in reply:
            return _error(
                reply["status"], reply["message"], reply.get("code"), reply.get("headers", {})
            )
        if reply.get("raw") is not None:
            return web.Response(text=reply["raw"], content_type="application/json")
        message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
        if reply.get("tool_calls"):
            message["tool_calls"] = [
                {
                    "id": f"call_{len(self.requests)}_{i}",
                    "type": "function",
                    "function": {"name": n, "arguments": a},
                }
                for i, (n, a) in enumerate(reply["tool_calls"])
            ]
        prompt_tokens = len(json.dumps(body)) // 4
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "scripted"),
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if reply.get("tool_calls") else "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": 12,
                    "total_tokens": prompt_tokens + 12,
                    "prompt_tokens_details": {"cached_tokens": reply.get("cached", 0)},
                },
            }
        )

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.embedding_requests.append(body)
        if self.embedding_delay:
            await asyncio.sleep(self.embedding_delay)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for i, text in enumerate(inputs):
            vector = [0.0] * self.embedding_dim
            for word in str(text).lower().split():
                vector[hash(word) % self.embedding_dim] += 1.0
            data.append({"object": "embedding", "index": i, "embedding": vector})
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model"),
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        )


def _error(status: int, message: str, code: str | None, headers: dict[str, str]) -> web.Response:
    payload = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return web.json_response(payload, status=status, headers=headers)
