"""The inspector's files are served by the API's server (from the package, no key needed:
they hold no data), and ``GET /api/me`` tells the page who its key is, never the key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.api import LiveApi, live_api
from tests.support.openai_server import ScriptedOpenAIServer


@pytest.fixture
async def live(llm_default: ScriptedOpenAIServer) -> AsyncIterator[LiveApi]:
    async with live_api(llm_default) as api:
        yield api


async def test_the_page_and_its_modules_are_served_without_a_key(live: LiveApi) -> None:
    async with live.http() as http:
        index = await http.get("/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        assert 'src="inspector/app.js"' in index.text
        for name in ("app.js", "api.js", "dom.js", "agent.js", "archival.js", "trace.js"):
            module = await http.get(f"/inspector/{name}")
            assert module.status_code == 200, name
            assert module.headers["content-type"].startswith("text/javascript")
        style = await http.get("/inspector/inspector.css")
        assert style.headers["content-type"].startswith("text/css")
        for wrong in ("nothing.js", "..%2F..%2Fauth.py", ".hidden.js", "app.py"):
            missing = await http.get(f"/inspector/{wrong}")
            assert missing.status_code == 404, wrong
            assert missing.json()["error"]["code"] == "not_found"
        assert "//" not in index.text, "nothing from another host (no CDN)"


async def test_me_names_the_key_and_its_role_and_never_the_key(live: LiveApi) -> None:
    for key, role in ((live.admin_key, "admin"), (live.viewer_key, "viewer")):
        async with live.http(key) as http:
            answer = await http.get("/api/me")
        assert answer.status_code == 200
        assert answer.json()["role"] == role
        assert key not in answer.text and key.split("_")[-1] not in answer.text
    async with live.http() as http:
        assert (await http.get("/api/me")).status_code == 401
    async with live.client(live.viewer_key) as pm:
        me = await pm.me()
    assert me.role == "viewer" and me.name == "victor (viewer)"
