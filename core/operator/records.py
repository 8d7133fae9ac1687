"""Values the operator layer's stores keep: API keys, the audit log, upload jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Role = Literal["admin", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "viewer")


class ApiKey(BaseModel):
    """A stored key: never its secret, only the secret's hash."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    role: Role
    secret_sha256: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class AuditEntry(BaseModel):
    """One operator write: who (key id and name), what (``action``, ``target``, a short
    ``summary``: never a secret, never a message body), on which agent, when. ``id`` sorts
    as ``at`` does (newest last), ties broken at random."""

    model_config = ConfigDict(frozen=True)

    id: str
    at: datetime
    key_id: str
    key_name: str
    action: str
    agent: str | None = None
    target: str | None = None
    summary: str = ""


JobStatus = Literal["running", "stored", "duplicate", "busy", "rejected", "failed"]


class UploadJob(BaseModel):
    """A file an operator uploaded into an agent's archival memory, as it loads."""

    model_config = ConfigDict(frozen=True)

    id: str
    agent_key: str
    filename: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    done: int = 0  # passages staged so far
    total: int = 0  # passages in the file (0 until it is parsed)
    passages: int = 0  # searchable once stored
    message: str = ""
