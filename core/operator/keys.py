"""Operator API keys and their roles.

A key reads ``pm_<key id>_<secret>``: the id names the stored record, the secret (32 random
bytes, base64url) is shown once when the key is created and stored only as its SHA-256
(right for high-entropy random secrets: nothing to brute-force, so no slow hash is needed),
compared in constant time. A ``viewer`` reads everything; an ``admin`` also changes things.
Revoked keys stay listed (who made what change stays readable in the audit log).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from core.operator.errors import (
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    UnauthorizedError,
)
from core.operator.ports import ApiKeyStore
from core.operator.records import ROLES, ApiKey, Role
from core.ports import Clock

PREFIX = "pm_"
_KEY = re.compile(r"^pm_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{20,128})$")
LAST_USED_EVERY = timedelta(minutes=1)  # ``last_used_at`` is coarse: one write a minute at most


class Caller(BaseModel):
    """Who is asking: the key's id, name and role (what the audit log records)."""

    model_config = ConfigDict(frozen=True)

    key_id: str
    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def require_admin(self) -> None:
        if not self.is_admin:
            raise ForbiddenError(
                f"the key {self.name!r} is a viewer key: it reads everything and changes nothing"
            )


CLI_CALLER = Caller(key_id="cli", name="pagemind keys", role="admin")


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeys:
    """Create, list, revoke and check keys."""

    def __init__(self, store: ApiKeyStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._touched: dict[str, datetime] = {}

    async def create(self, name: str, role: str) -> tuple[ApiKey, str]:
        """A new key: its record and the full key text (shown once, never stored)."""
        name = " ".join(name.split())
        if not name:
            raise InvalidRequestError("give the key a name (who or what uses it)", field="name")
        if role not in ROLES:
            raise InvalidRequestError(f"the role is admin or viewer, not {role!r}", field="role")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        record = ApiKey(
            id=key_id,
            name=name[:100],
            role="admin" if role == "admin" else "viewer",
            secret_sha256=secret_hash(secret),
            created_at=self.clock.now(),
        )
        await self.store.add(record)
        return record, f"{PREFIX}{key_id}_{secret}"

    async def all(self) -> list[ApiKey]:
        return await self.store.all()

    async def revoke(self, key_id: str) -> ApiKey:
        key_id = key_id.strip()
        if not await self.store.revoke(key_id, self.clock.now()):
            found = await self.store.get(key_id)
            if found is None:
                raise NotFoundError(f"there is no key {key_id!r}")
            return found  # revoked already: revoking again changes nothing
        found = await self.store.get(key_id)
        assert found is not None
        return found

    async def authenticate(self, presented: str | None) -> Caller:
        """The caller a presented key stands for, or ``UnauthorizedError`` (which never
        repeats the key)."""
        if not presented:
            raise UnauthorizedError("an API key is required: Authorization: Bearer pm_...")
        match = _KEY.match(presented.strip())
        if match is None:
            raise UnauthorizedError(
                "that is not a Pagemind API key (they look like pm_<id>_<secret>)"
            )
        record = await self.store.get(match["id"])
        # Compared in constant time whether or not the id exists, so timing says nothing.
        expected = record.secret_sha256 if record is not None else "0" * 64
        if not hmac.compare_digest(expected, secret_hash(match["secret"])) or record is None:
            raise UnauthorizedError("unknown API key")
        if record.revoked:
            raise UnauthorizedError(f"the API key {record.id} was revoked")
        await self._touch(record)
        return Caller(key_id=record.id, name=record.name, role=record.role)

    async def _touch(self, record: ApiKey) -> None:
        now = self.clock.now()
        last = self._touched.get(record.id) or record.last_used_at
        if last is None or now - last >= LAST_USED_EVERY:
            self._touched[record.id] = now
            await self.store.touch(record.id, now)
