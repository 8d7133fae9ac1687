"""Pagemind's Python client: ``Pagemind`` (sync) and ``AsyncPagemind`` (async).

    from pagemind_client import Pagemind

    with Pagemind("http://127.0.0.1:8080", api_key="pm_...") as pm:
        for agent in pm.agents.list(platform="telegram"):
            print(agent.key, agent.tokens_today)

Typed models are in ``pagemind_client.models`` (the server uses the same classes), errors in
``pagemind_client.errors``. It depends on pydantic and httpx only.
"""

from pagemind_client._async import AsyncPagemind
from pagemind_client._sync import Pagemind
from pagemind_client.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ChangeQueuedError,
    ConflictError,
    NotFoundError,
    PagemindError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "AsyncPagemind",
    "AuthenticationError",
    "ChangeQueuedError",
    "ConflictError",
    "NotFoundError",
    "Pagemind",
    "PagemindError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "ValidationError",
]
