"""People's names for the agent (``users.info``, cached): Slack events carry only user ids."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_chat.errors import CALL_ERRORS, error_code

log = logging.getLogger(__name__)


def display_name(user: Mapping[str, Any]) -> str | None:
    """The name Slack shows: the display name, else the real name, else the handle."""
    found = user.get("profile")
    profile: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    for name in (
        profile.get("display_name"),
        profile.get("real_name"),
        user.get("real_name"),
        user.get("name"),
    ):
        if isinstance(name, str) and name.strip():
            return name.strip()
    return None


class UserDirectory:
    """Looks names up once per ``ttl`` seconds per user; keeps at most ``capacity``.
    A failed lookup is not fatal: the caller falls back to the user id."""

    def __init__(self, client: AsyncWebClient, *, ttl: float = 3600.0, capacity: int = 5000):
        self.client = client
        self.ttl = ttl
        self.capacity = capacity
        self._names: OrderedDict[str, tuple[float, str | None]] = OrderedDict()

    async def name(self, user_id: str) -> str | None:
        now = time.monotonic()
        cached = self._names.get(user_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        try:
            response = await self.client.users_info(user=user_id)
        except CALL_ERRORS as exc:
            log.info("users.info failed for %s: %s", user_id, error_code(exc))
            return cached[1] if cached else None
        user = response.get("user")
        name = display_name(user) if isinstance(user, Mapping) else None
        self._names[user_id] = (now, name)
        self._names.move_to_end(user_id)
        while len(self._names) > self.capacity:
            self._names.popitem(last=False)
        return name
