"""Who is asking: every route but ``/healthz`` (and the docs page's static files) needs
``Authorization: Bearer <key>``; write routes need an admin key. The key is checked, then
its rate; neither the key nor its secret is ever logged or returned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapters.http_api.limits import KeyRates
from core.operator.keys import Caller
from core.operator.services import OperatorServices

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="A Pagemind API key (pagemind keys create --name NAME --role admin|viewer)",
)


@dataclass
class ApiState:
    services: OperatorServices
    rates: KeyRates


def state(request: Request) -> ApiState:
    found = request.app.state.api
    assert isinstance(found, ApiState)
    return found


def services(request: Request) -> OperatorServices:
    return state(request).services


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    api = state(request)
    who = await api.services.keys.authenticate(credentials.credentials if credentials else None)
    api.rates.check(who.key_id)
    return who


async def admin(who: Annotated[Caller, Depends(caller)]) -> Caller:
    who.require_admin()
    return who


Viewer = Annotated[Caller, Depends(caller)]
Admin = Annotated[Caller, Depends(admin)]
Services = Annotated[OperatorServices, Depends(services)]
