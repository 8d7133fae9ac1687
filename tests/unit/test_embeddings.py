"""The OpenAI-compatible embedder, through the real ``openai`` SDK, against the scripted server.

The scripted server (a TEST DOUBLE) is extended here so its ``/v1/embeddings`` behaves like
real servers where it matters: it records each request with its headers, refuses what OpenAI
refuses (empty strings, non-strings), can answer scripted failures, can list items out of
order, and gives each text a recognisable vector so order can be checked.
"""

from __future__ import annotations

import array
import asyncio
import base64
import json
import socket
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
from aiohttp import web

from adapters.openai_compatible.embeddings import OpenAICompatibleEmbedder
from core.context.tokens import TokenCounter
from core.errors import (
    ConfigurationError,
    ContextWindowExceededError,
    LLMAuthenticationError,
    LLMRateLimitedError,
    LLMResponseError,
    LLMUnavailableError,
)
from tests.support.agents import Harness
from tests.support.openai_server import Reply, ScriptedOpenAIServer, context_error, error_reply
from tests.support.scripted import ScriptedModel, call, say


def fingerprint(text: str, dim: int = 4) -> tuple[float, ...]:
    """The vector the test server gives ``text``: unique enough to tell texts apart."""
    crc = zlib.crc32(text.encode())
    return (float(crc % 10007), float(len(text)), float(crc % 101), 1.0, *([0.5] * (dim - 4)))


@dataclass
class EmbeddingRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def inputs(self) -> list[str]:
        return self.body["input"]


@dataclass
class EmbeddingServer(ScriptedOpenAIServer):
    """The scripted server with a stricter, scriptable ``/v1/embeddings``."""

    failures: deque[Reply] = field(default_factory=deque)
    calls: list[EmbeddingRequest] = field(default_factory=list)
    max_inputs: int | None = None  # above it: 413, as a server with a small batch limit
    reverse: bool = False  # list the items in reverse order (each with its right index)
    dim: int = 4
    transform: Any = None  # a function that edits the response payload

    async def _embeddings(self, request: web.Request) -> web.Response:  # type: ignore[override]
        body = await request.json()
        self.calls.append(EmbeddingRequest(request.path, dict(request.headers), body))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            reply = self.failures.popleft()
            return _error(reply["status"], reply["message"], reply["code"], reply["headers"])
        inputs = body.get("input")
        if not isinstance(inputs, list) or not all(isinstance(t, str) and t for t in inputs):
            return _error(400, "'$.input' is invalid. Please check the API reference.")
        if self.max_inputs is not None and len(inputs) > self.max_inputs:
            return _error(413, "Payload Too Large")
        dim = body.get("dimensions", self.dim)
        data = [
            {"object": "embedding", "index": i, "embedding": list(fingerprint(t, dim))}
            for i, t in enumerate(inputs)
        ]
        if self.reverse:
            data.reverse()
        payload: dict[str, Any] = {
            "object": "list",
            "data": data,
            "model": body.get("model"),
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }
        if self.transform is not None:
            payload = self.transform(payload)
        return web.json_response(payload)


def _error(
    status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    payload = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return web.json_response(payload, status=status, headers=headers or {})


@pytest.fixture
async def server():
    async with EmbeddingServer() as s:
        yield s


_open: list[OpenAICompatibleEmbedder] = []


@pytest.fixture(autouse=True)
async def close_clients():
    yield
    while _open:
        await _open.pop().aclose()


def embedder(server: EmbeddingServer, **kw: Any) -> OpenAICompatibleEmbedder:
    kw.setdefault("max_retries", 0)
    made = OpenAICompatibleEmbedder(
        model="embed-scripted", api_key="test-key", base_url=server.base_url, **kw
    )
    _open.append(made)
    return made


async def test_sends_what_real_servers_expect(server: EmbeddingServer) -> None:
    vectors = await embedder(server).embed(["The cat sat.", "A dog barked."])
    assert vectors == [fingerprint("The cat sat."), fingerprint("A dog barked.")]
    (sent,) = server.calls
    assert sent.path == "/v1/embeddings"
    assert sent.headers["Authorization"] == "Bearer test-key"
    assert sent.headers["Content-Type"].startswith("application/json")
    # float, not the SDK's default base64 (which Ollama, LM Studio and others do not speak),
    # and no `dimensions` unless asked: many servers reject parameters they do not know
    assert sent.body == {
        "model": "embed-scripted",
        "input": ["The cat sat.", "A dog barked."],
        "encoding_format": "float",
    }


async def test_dimensions_are_sent_when_configured_and_checked(server: EmbeddingServer) -> None:
    model = embedder(server, dimensions=6)
    assert model.name == "openai-compatible:embed-scripted:6"
    (vector,) = await model.embed(["short vectors please"])
    assert len(vector) == 6 and server.calls[0].body["dimensions"] == 6
    server.transform = lambda p: {**p, "data": [{**d, "embedding": [1.0] * 4} for d in p["data"]]}
    with pytest.raises(LLMResponseError, match="4-dimensional vectors but asked for 6"):
        await model.embed(["a server that ignores dimensions"])


async def test_order_is_kept_across_batches_even_if_the_server_reorders(
    server: EmbeddingServer,
) -> None:
    server.reverse = True
    texts = [f"note number {i}" for i in range(100)]
    vectors = await embedder(server, batch_size=7).embed(texts)
    assert vectors == [fingerprint(t) for t in texts]
    assert [len(c.inputs) for c in server.calls] == [7] * 14 + [2]
    assert [t for c in server.calls for t in c.inputs] == texts


async def test_large_inputs_are_split_by_total_characters(server: EmbeddingServer) -> None:
    texts = [f"{i} " + "word " * 60 for i in range(10)]  # ~300 characters each
    vectors = await embedder(server, max_batch_chars=1000, max_input_chars=1000).embed(texts)
    assert vectors == [fingerprint(t) for t in texts]
    assert all(sum(map(len, c.inputs)) <= 1000 for c in server.calls)
    assert [len(c.inputs) for c in server.calls] == [3, 3, 3, 1]


async def test_a_413_splits_the_batch_and_tries_again(
    server: EmbeddingServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.max_inputs = 3
    texts = [f"fact {i}" for i in range(10)]
    vectors = await embedder(server, batch_size=10).embed(texts)
    assert vectors == [fingerprint(t) for t in texts]
    assert [len(c.inputs) for c in server.calls] == [10, 5, 2, 3, 5, 2, 3]
    assert "413" in caplog.text


async def test_blank_texts_get_zero_vectors_and_are_never_sent(server: EmbeddingServer) -> None:
    model = embedder(server)
    assert await model.embed([]) == [] and server.calls == []
    # before any answer the dimension is unknown: one probe request learns it
    assert await model.embed(["", "  \n"]) == [(0.0,) * 4] * 2
    assert len(server.calls) == 1 and all(t.strip() for t in server.calls[0].inputs)
    vectors = await model.embed(["tea", "", "coffee"])
    assert vectors == [fingerprint("tea"), (0.0,) * 4, fingerprint("coffee")]
    assert server.calls[-1].inputs == ["tea", "coffee"]


async def test_over_long_inputs_keep_their_beginning_and_whole_words(
    server: EmbeddingServer, caplog: pytest.LogCaptureFixture
) -> None:
    words = " ".join(f"w{i:03d}" for i in range(200))  # 999 characters
    await embedder(server, max_input_chars=100).embed([words, "short"])
    sent, short = server.calls[0].inputs
    assert short == "short"
    assert len(sent) <= 100 and words.startswith(sent) and words[len(sent)] == " "
    assert "cut 1 of 2 inputs" in caplog.text and "w000" not in caplog.text


async def test_a_token_counter_cuts_exactly_to_the_token_limit(server: EmbeddingServer) -> None:
    counter = TokenCounter("text-embedding-3-small")
    text = "🙂" * 50  # 50 characters, but more tokens than that
    model = embedder(server, token_counter=counter, max_input_tokens=20)
    await model.embed([text])
    (sent,) = server.calls[0].inputs
    assert counter.count(sent) <= 20 and text.startswith(sent) and sent


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        (error_reply(429, "slow down"), LLMRateLimitedError, "slow down"),
        (error_reply(401, "bad key"), LLMAuthenticationError, "rejected the API key"),
        (error_reply(404, "no such model"), LLMUnavailableError, "'embed-scripted'"),
        (context_error(), ContextWindowExceededError, "max_input_chars"),
        (
            error_reply(400, "Input validation error: `inputs` must have less than 512 tokens"),
            ContextWindowExceededError,
            "512 tokens",
        ),
        (error_reply(400, "unknown field"), LLMResponseError, "unknown field"),
        (error_reply(422, "batch size 64 > maximum 32"), LLMResponseError, "422"),
        (error_reply(500, "boom"), LLMUnavailableError, "500"),
    ],
)
async def test_errors_are_mapped_to_the_core_tree(
    server: EmbeddingServer, reply: Reply, error: type[Exception], words: str
) -> None:
    server.failures.append(reply)
    with pytest.raises(error, match=words) as caught:
        await embedder(server).embed(["hello"])
    assert isinstance(caught.value.__cause__, openai.APIError)


async def test_a_single_input_still_too_large_is_a_response_error(
    server: EmbeddingServer,
) -> None:
    server.failures.append(error_reply(413, "Payload Too Large"))
    with pytest.raises(LLMResponseError, match="max_input_chars"):
        await embedder(server).embed(["one big text"])


async def test_server_errors_are_retried_by_the_sdk(server: EmbeddingServer) -> None:
    server.failures.append(error_reply(503, "warming up", headers={"retry-after-ms": "10"}))
    vectors = await embedder(server, max_retries=1).embed(["hello"])
    assert vectors == [fingerprint("hello")] and len(server.calls) == 2


async def test_a_slow_endpoint_times_out(server: EmbeddingServer) -> None:
    server.delay = 1.0
    with pytest.raises(LLMUnavailableError, match="did not answer in time"):
        await embedder(server, timeout=0.2).embed(["hello"])


async def test_an_unreachable_endpoint_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = OpenAICompatibleEmbedder(
        model="m", api_key="k", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0
    )
    _open.append(model)
    with pytest.raises(LLMUnavailableError, match="cannot connect"):
        await model.embed(["hello"])


@pytest.mark.parametrize(
    ("transform", "words"),
    [
        (
            lambda p: {**p, "data": p["data"][:-1]},
            "asked for 2 embeddings, the endpoint returned 1",
        ),
        (
            lambda p: {**p, "data": [{**d, "index": 0} for d in p["data"]]},
            "bad index",
        ),
        (
            lambda p: {**p, "data": [{**d, "embedding": "not base64!"} for d in p["data"]]},
            "undecodable",
        ),
        (lambda p: {**p, "data": [{**d, "embedding": []} for d in p["data"]]}, "empty"),
    ],
)
async def test_unusable_answers_are_response_errors(
    server: EmbeddingServer, transform: Any, words: str
) -> None:
    server.transform = transform
    with pytest.raises(LLMResponseError, match=words):
        await embedder(server).embed(["one", "two"])


async def test_a_changed_dimension_is_refused(server: EmbeddingServer) -> None:
    model = embedder(server)
    await model.embed(["first"])
    assert model.dimension == 4
    server.dim = 8
    with pytest.raises(LLMResponseError, match="8-dimensional vectors but earlier answers had 4"):
        await model.embed(["second"])


async def test_base64_answers_are_decoded_when_a_server_sends_them(
    server: EmbeddingServer,
) -> None:
    def as_base64(payload: dict[str, Any]) -> dict[str, Any]:
        for item in payload["data"]:
            raw = array.array("f", item["embedding"]).tobytes()
            item["embedding"] = base64.b64encode(raw).decode()
        return payload

    server.transform = as_base64
    (vector,) = await embedder(server).embed(["hello"])
    assert vector == fingerprint("hello")  # small whole numbers: exact in float32


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="batch_size must be at least 1"):
        OpenAICompatibleEmbedder(model="m", api_key="k", batch_size=0)
    with pytest.raises(ConfigurationError, match="must not exceed max_batch_chars"):
        OpenAICompatibleEmbedder(model="m", api_key="k", max_input_chars=10, max_batch_chars=5)
    with pytest.raises(ConfigurationError, match="model name is empty"):
        OpenAICompatibleEmbedder(model="", api_key="k")


async def test_a_single_string_is_refused(server: EmbeddingServer) -> None:
    with pytest.raises(TypeError, match="sequence of texts"):
        await embedder(server).embed("hello")


async def test_a_client_passed_in_stays_open(server: EmbeddingServer) -> None:
    client = openai.AsyncOpenAI(api_key="test-key", base_url=server.base_url, max_retries=0)
    async with OpenAICompatibleEmbedder(model="m", api_key="unused", client=client) as model:
        await model.embed(["hello"])
    assert not client.is_closed()
    await client.close()


async def test_archival_memory_stores_and_searches_with_endpoint_vectors(
    server: EmbeddingServer,
) -> None:
    model = ScriptedModel()
    h = Harness(model, embedder=embedder(server))
    model.add(
        call(
            "archival_memory_insert",
            content="Ana's passport expires in March 2027.",
            request_heartbeat=True,
        ),
        call("archival_memory_search", query="passport", request_heartbeat=True),
        say("ok"),
    )
    await h.send("remember my passport date")
    (passage,) = await h.archival.all("agent-1")
    assert passage.embedding == fingerprint("Ana's passport expires in March 2027.")
    assert [c.inputs for c in server.calls] == [
        ["Ana's passport expires in March 2027."],
        ["passport"],
    ]
    assert "passport expires" in json.dumps(model.requests[-1].messages[-1].content)
