"""The operator REST API over HTTP (FastAPI): routers per resource, key auth, one error shape,
body and rate limits, an offline docs page. It translates HTTP to ``core.operator`` and core
values to the wire models in ``pagemind_client.models``."""

from adapters.http_api.app import ApiSettings, create_app

__all__ = ["ApiSettings", "create_app"]
