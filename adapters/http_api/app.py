"""The operator API as an ASGI application, built from the operator layer's services."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from adapters.http_api import docs, errors
from adapters.http_api.auth import ApiState
from adapters.http_api.limits import FORM_ROOM, BodyLimit, KeyRates
from adapters.http_api.routers import agent_data as export_erase
from adapters.http_api.routers import agents, archival, audit, checkins, openai_compat
from adapters.http_api.routers import memory as memory_blocks
from adapters.http_api.routers import messages as agent_messages
from adapters.http_api.routers import pause as pausing
from adapters.http_api.routers import persons as people
from adapters.http_api.routers.inspector import me, page
from core.operator.services import OperatorServices
from pagemind_client.models import ErrorBody, Health

DESCRIPTION = """Pagemind's operator API. Every route needs `Authorization: Bearer <key>`
(`pagemind keys create --name NAME --role admin|viewer`) except `GET /healthz`. Viewer keys
read everything; admin keys also write; every write is in the audit log. Errors have one
shape: `{"error": {"code", "message", "field"}}`. Listings are paged with opaque cursors."""


@dataclass(frozen=True)
class ApiSettings:
    version: str = "0"
    max_body_bytes: int = 1024 * 1024
    max_upload_bytes: int = 20 * 2**20
    requests_per_minute: int = 600


def create_app(services: OperatorServices, settings: ApiSettings = ApiSettings()) -> FastAPI:
    app = FastAPI(
        title="Pagemind operator API",
        version=settings.version,
        description=DESCRIPTION,
        openapi_url=None,  # served by ``docs`` behind a key
        docs_url=None,
        redoc_url=None,
        responses={
            401: {"model": ErrorBody, "description": "no key, or an unknown or revoked one"},
            403: {"model": ErrorBody, "description": "a viewer key asked to write"},
            404: {"model": ErrorBody, "description": "no such agent or item"},
            413: {"model": ErrorBody, "description": "body over the stated limit"},
            422: {"model": ErrorBody, "description": "malformed JSON or a wrong field"},
            429: {"model": ErrorBody, "description": "over the key's rate; see Retry-After"},
        },
    )
    app.state.api = ApiState(services, KeyRates(settings.requests_per_minute, services.clock))
    errors.install(app)
    openai_compat.install_errors(app)

    def limit_for(path: str) -> int:
        if path.endswith("/archival/uploads"):
            return settings.max_upload_bytes + FORM_ROOM
        return settings.max_body_bytes

    app.add_middleware(BodyLimit, limit_for=limit_for)

    @app.get("/healthz", tags=["health"], summary="Liveness (no key needed)")
    async def healthz() -> Health:
        return Health(version=settings.version)

    app.include_router(docs.router)
    for module in (agents, checkins, archival, audit):
        app.include_router(module.router)
    app.include_router(agent_messages.router)
    app.include_router(memory_blocks.router)
    app.include_router(pausing.router)
    app.include_router(export_erase.router)
    app.include_router(people.router)
    app.include_router(openai_compat.router)
    app.include_router(me)
    app.include_router(page)  # the inspector at /
    return app
