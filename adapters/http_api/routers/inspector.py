"""The memory inspector: a web page at ``/`` that uses only this API.

The page and its files (plain HTML, CSS and JavaScript modules in ``static/inspector``,
no build step, nothing from a CDN) hold no data, so they are served without a key; the
page asks for one and sends it with every API call. ``GET /api/me`` tells the page who
the key is (name and role) so a viewer sees every change control disabled."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from adapters.http_api.auth import Viewer
from core.operator.errors import NotFoundError
from pagemind_client import models as wire

ASSETS = Path(str(files("adapters.http_api") / "static" / "inspector"))
TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
}
NO_STORE = {"Cache-Control": "no-cache"}

page = APIRouter(include_in_schema=False)
me = APIRouter(prefix="/api", tags=["keys"])


@page.get("/")
async def index() -> FileResponse:
    return FileResponse(ASSETS / "index.html", media_type="text/html", headers=NO_STORE)


@page.get("/inspector/{name}")
async def asset(name: str) -> FileResponse:
    path = ASSETS / name
    kind = TYPES.get(path.suffix)
    if kind is None or "/" in name or name.startswith(".") or not path.is_file():
        raise NotFoundError(f"there is no file {name!r}")
    return FileResponse(path, media_type=kind, headers=NO_STORE)


@me.get("/me", summary="The key making the request: its name and role (viewer)")
async def whoami(who: Viewer) -> wire.KeyIdentity:
    return wire.KeyIdentity(key_id=who.key_id, name=who.name, role=who.role)
