"""The settings the Telegram adapter reads, as a structural type (``config.platforms``
provides them; adapters do not import ``config``)."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import SecretStr


class TelegramOptions(Protocol):
    @property
    def token(self) -> SecretStr | None: ...
    @property
    def api_base_url(self) -> str: ...
    @property
    def mode(self) -> Literal["polling", "webhook"]: ...
    @property
    def webhook_url(self) -> str | None: ...
    @property
    def webhook_listen(self) -> str: ...
    @property
    def webhook_port(self) -> int: ...
    @property
    def webhook_secret(self) -> SecretStr | None: ...
    @property
    def poll_timeout(self) -> float: ...
