"""The settings the Discord adapter reads, as a structural type (``config.platforms``
provides them; adapters do not import ``config``)."""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr


class DiscordOptions(Protocol):
    @property
    def token(self) -> SecretStr | None: ...
    @property
    def shard_count(self) -> int | None: ...
    @property
    def shard_ids(self) -> list[str]: ...
    @property
    def message_content_intent(self) -> bool: ...
