"""The settings the Slack adapter reads, as a structural type (``config.platforms``
provides them; adapters do not import ``config``)."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import SecretStr


class SlackOptions(Protocol):
    @property
    def bot_token(self) -> SecretStr | None: ...
    @property
    def app_token(self) -> SecretStr | None: ...
    @property
    def signing_secret(self) -> SecretStr | None: ...
    @property
    def mode(self) -> Literal["socket", "http"]: ...
    @property
    def http_listen(self) -> str: ...
    @property
    def http_port(self) -> int: ...
    @property
    def api_base_url(self) -> str: ...
