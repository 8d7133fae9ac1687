"""The operator API's front door: keys and roles, one error shape for bad input, body and
rate limits, the schema and an offline docs page, and no key ever in a response or a log."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import pytest

from tests.support.api import LiveApi, live_api
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply

AGENT = "telegram:user:42"
# every route that changes something, with a body it would accept from an admin
WRITES = [
    ("PUT", f"/api/agents/{AGENT}/budget", {"json": {"daily_token_budget": 1000}}),
    ("POST", f"/api/agents/{AGENT}/checkins", {"json": {"note": "hello", "every": "1d"}}),
    ("DELETE", f"/api/agents/{AGENT}/checkins/abc123", {}),
    ("POST", f"/api/agents/{AGENT}/archival/passages", {"json": {"text": "a fact"}}),
    ("DELETE", f"/api/agents/{AGENT}/archival/passages/p1", {}),
    ("DELETE", f"/api/agents/{AGENT}/archival/sources/own", {}),
    ("POST", f"/api/agents/{AGENT}/archival/uploads", {"files": {"file": ("a.txt", b"hi")}}),
]
READS = [
    "/api/agents",
    f"/api/agents/{AGENT}",
    f"/api/agents/{AGENT}/usage",
    f"/api/agents/{AGENT}/checkins",
    f"/api/agents/{AGENT}/archival/sources",
    f"/api/agents/{AGENT}/archival/search?q=tea",
    "/openapi.json",
]


@pytest.fixture
async def live() -> AsyncIterator[LiveApi]:
    reply = tool_reply("send_message", {"message": "Hello!"})
    async with ScriptedOpenAIServer(default=reply) as llm, live_api(llm) as api:
        await api.talk(AGENT, "hi, I like green tea")
        yield api


def assert_error(response, status: int, code: str, field: str | None = None) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"], body
    if field is not None:
        assert body["error"].get("field") == field, body
    return str(body["error"]["message"])


async def test_healthz_is_the_only_route_open_without_a_key(live: LiveApi) -> None:
    async with live.http() as anonymous:
        health = await anonymous.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        for path in READS:
            assert_error(await anonymous.get(path), 401, "unauthorized")
        for method, path, kwargs in WRITES:
            assert_error(await anonymous.request(method, path, **kwargs), 401, "unauthorized")
        refused = await anonymous.get("/api/agents")
        assert refused.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer pm_0123456789ab_" + "x" * 43],
    ids=["empty", "not-a-key", "basic-auth", "unknown-key"],
)
async def test_a_bad_key_is_401(live: LiveApi, authorization: str) -> None:
    async with live.http() as http:
        response = await http.get("/api/agents", headers={"Authorization": authorization})
    assert_error(response, 401, "unauthorized")


async def test_a_revoked_key_is_401_from_the_next_request(live: LiveApi) -> None:
    record, key = await live.api.services.keys.create("temp", "admin")
    async with live.http(key) as http:
        assert (await http.get("/api/agents")).status_code == 200
        await live.api.services.keys.revoke(record.id)
        message = assert_error(await http.get("/api/agents"), 401, "unauthorized")
    assert "revoked" in message


async def test_a_viewer_reads_everything_and_changes_nothing(live: LiveApi) -> None:
    async with live.http(live.viewer_key) as viewer:
        for path in READS:
            assert (await viewer.get(path)).status_code == 200, path
        for method, path, kwargs in WRITES:
            response = await viewer.request(method, path, **kwargs)
            assert_error(response, 403, "forbidden")
    detail = await live.svc.storage.agents.load(AGENT)
    assert detail is not None and detail.daily_token_budget is None
    assert await live.svc.storage.archival.count(AGENT) == 0
    async with live.http(live.admin_key) as admin:
        audit = await admin.get("/api/audit")
    assert audit.json()["items"] == []  # nothing was written
    async with live.http(live.viewer_key) as viewer:
        assert_error(await viewer.get("/api/audit"), 403, "forbidden")  # admins only


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("PUT", f"/api/agents/{AGENT}/budget", {"content": b"{not json"}, "body"),
        ("PUT", f"/api/agents/{AGENT}/budget", {"json": {"daily_token_budget": "lots"}},
         "daily_token_budget"),
        ("PUT", f"/api/agents/{AGENT}/budget", {"json": {"daily_token_budget": 0}},
         "daily_token_budget"),
        ("PUT", f"/api/agents/{AGENT}/budget", {"json": {}}, "daily_token_budget"),
        ("PUT", f"/api/agents/{AGENT}/budget", {"json": {"daily_token_budget": 5, "x": 1}}, "x"),
        ("POST", f"/api/agents/{AGENT}/checkins", {"json": {"note": "hi", "every": "soon"}},
         "every"),
        ("POST", f"/api/agents/{AGENT}/checkins", {"json": {"note": ""}}, "note"),
        ("POST", f"/api/agents/{AGENT}/archival/passages", {"json": {"text": 5}}, "text"),
        ("POST", f"/api/agents/{AGENT}/archival/uploads", {"data": {"x": "y"}}, "file"),
        ("GET", "/api/agents?limit=0", {}, "limit"),
        ("GET", "/api/agents?limit=abc", {}, "limit"),
        ("GET", "/api/agents?cursor=bm90LWEtY3Vyc29y", {}, "cursor"),
        ("GET", "/api/agents?active_since=yesterday", {}, "active_since"),
        ("GET", f"/api/agents/{AGENT}/archival/search", {}, "q"),
        ("GET", f"/api/agents/{AGENT}/usage?since=2026-13-01", {}, "since"),
    ],
    ids=[
        "malformed-json", "wrong-type", "below-minimum", "missing", "unknown-field",
        "bad-interval", "empty-note", "text-not-a-string", "no-file", "limit-zero",
        "limit-not-a-number", "foreign-cursor", "bad-date", "no-query", "bad-day",
    ],
)  # fmt: skip
async def test_bad_input_is_a_422_naming_the_field(
    live: LiveApi, method: str, path: str, kwargs: dict, field: str
) -> None:
    async with live.http(live.admin_key) as http:
        headers = {"Content-Type": "application/json"} if "content" in kwargs else {}
        response = await http.request(method, path, headers=headers, **kwargs)
    assert_error(response, 422, "invalid", field)
    assert (await live.svc.storage.agents.load(AGENT)).daily_token_budget is None  # type: ignore[union-attr]


async def test_unknown_ids_are_404(live: LiveApi) -> None:
    missing = "telegram:user:999"
    async with live.http(live.admin_key) as http:
        for path in [p.replace(AGENT, missing) for p in READS if AGENT in p]:
            assert_error(await http.get(path), 404, "not_found")
        for method, path, kwargs in WRITES:
            assert_error(await http.request(method, path.replace(AGENT, missing), **kwargs),
                         404, "not_found")  # fmt: skip
        for path in (
            f"/api/agents/{AGENT}/checkins/nope",
            f"/api/agents/{AGENT}/archival/passages/nope",
            f"/api/agents/{AGENT}/archival/sources/nope",
            f"/api/agents/{AGENT}/archival/uploads/nope",
        ):
            method = "GET" if path.endswith("uploads/nope") else "DELETE"
            assert_error(await http.request(method, path), 404, "not_found")
        assert_error(await http.get("/api/nothing-here"), 404, "not_found")


async def test_bodies_over_the_limit_are_413(llm_default: ScriptedOpenAIServer) -> None:
    async with live_api(llm_default, api_max_body_kb=4, max_upload_mb=0.01) as live:
        await live.talk(AGENT, "hello")
        big = {"text": "x" * 5000}
        async with live.http(live.admin_key) as http:
            declared = await http.post(f"/api/agents/{AGENT}/archival/passages", json=big)
            assert_error(declared, 413, "too_large")

            async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as read
                yield b'{"text": "'
                for _ in range(10):
                    yield b"y" * 1000
                yield b'"}'

            streamed = await http.post(
                f"/api/agents/{AGENT}/archival/passages",
                content=chunks(),
                headers={"Content-Type": "application/json"},
            )
            assert_error(streamed, 413, "too_large")
            upload = await http.post(
                f"/api/agents/{AGENT}/archival/uploads",
                files={"file": ("big.txt", b"z " * 20_000, "text/plain")},
            )
            message = assert_error(upload, 413, "too_large")
            assert "big.txt" in message and "PAGEMIND_MAX_UPLOAD_MB" in message
            small = await http.post(f"/api/agents/{AGENT}/archival/passages", json={"text": "ok"})
            assert small.status_code == 201
        assert await live.svc.storage.archival.count(AGENT) == 1  # only the small one


async def test_over_the_rate_a_key_gets_429_with_retry_after(
    llm_default: ScriptedOpenAIServer,
) -> None:
    async with live_api(llm_default, api_requests_per_minute=3) as live:
        async with live.http(live.admin_key) as admin, live.http(live.viewer_key) as viewer:
            for _ in range(3):
                assert (await admin.get("/api/agents")).status_code == 200
            refused = await admin.get("/api/agents")
            assert_error(refused, 429, "rate_limited")
            assert int(refused.headers["Retry-After"]) >= 1
            assert (await viewer.get("/api/agents")).status_code == 200  # its own bucket


async def test_the_schema_comes_from_the_wire_models_and_needs_a_key(live: LiveApi) -> None:
    async with live.http() as anonymous:
        assert_error(await anonymous.get("/openapi.json"), 401, "unauthorized")
    async with live.http(live.viewer_key) as http:
        schema = (await http.get("/openapi.json")).json()
    from pagemind_client import models

    for name in ("AgentDetail", "Usage", "Checkin", "SearchResults", "UploadJob", "ErrorBody"):
        assert name in schema["components"]["schemas"], name
        wire = getattr(models, name).model_json_schema(ref_template="{model}")
        assert set(schema["components"]["schemas"][name]["properties"]) == set(wire["properties"])
    assert "/api/agents/{agent_key}/archival/search" in schema["paths"]
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"


async def test_the_docs_page_and_its_assets_come_from_this_server(live: LiveApi) -> None:
    async with live.http() as anonymous:
        page = await anonymous.get("/docs")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(not s.startswith(("http:", "https:", "//")) for s in sources)
        for source in sources:
            asset = await anonymous.get(f"/{source}")
            assert asset.status_code == 200 and len(asset.content) > 1000, source
        bundle = await anonymous.get("/docs/assets/swagger-ui-bundle.js")
        assert b"SwaggerUIBundle" in bundle.content
        assert_error(await anonymous.get("/docs/assets/..%2Fdocs.html"), 404, "not_found")


async def test_keys_never_appear_in_responses_or_logs(
    live: LiveApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [live.admin_key, live.viewer_key]
    forged = "pm_0123456789ab_" + "S" * 43
    bodies: list[str] = []
    async with live.http(live.admin_key) as admin, live.http(forged) as wrong:
        for path in READS:
            bodies.append((await admin.get(path)).text)
        bodies.append((await wrong.get("/api/agents")).text)
        bodies.append((await admin.put(f"/api/agents/{AGENT}/budget",
                                       json={"daily_token_budget": 9000})).text)  # fmt: skip
        bodies.append((await admin.get("/api/audit")).text)
    async with live.http(live.viewer_key) as viewer:
        bodies.append((await viewer.delete(f"/api/agents/{AGENT}/archival/sources/own")).text)
    logged = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert "GET /api/agents" in logged or "api/agents" in logged, "the requests were logged"
    for secret in [*secrets, forged]:
        tail = secret.split("_", 2)[2]
        for text in (logged, *bodies):
            assert tail not in text
