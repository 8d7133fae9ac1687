"""Per-platform settings: ``PAGEMIND_TELEGRAM_*``, ``PAGEMIND_SLACK_*``, ``PAGEMIND_DISCORD_*``.

A platform starts when its credentials are set. Lists (users, channels, admins, commands)
are JSON lists or comma-separated: ``PAGEMIND_TELEGRAM_ALLOWED_USERS=12345,67890``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Names = Annotated[list[str], NoDecode]


class PlatformSettings(BaseSettings):
    """What every platform shares: who the agent is, when it answers, who may use it."""

    scope: Literal["user", "channel", "thread"] = "user"
    answer: Literal["mention", "always"] = "mention"
    allowed_users: Names = Field(default_factory=list)
    allowed_workspaces: Names = Field(default_factory=list)  # Discord servers, Slack workspaces
    allowed_channels: Names = Field(default_factory=list)
    admins: Names = Field(default_factory=list)
    admin_only_commands: Names = Field(default_factory=list)
    messages_per_minute: int = Field(20, ge=0)
    max_upload_mb: float = Field(20.0, gt=0)

    @field_validator(
        "allowed_users", "allowed_workspaces", "allowed_channels", "admins", "admin_only_commands",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _names(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return [str(v) for v in json.loads(text)]
            return [part.strip() for part in text.split(",") if part.strip()]
        return value


class TelegramSettings(PlatformSettings):
    model_config = SettingsConfigDict(
        env_prefix="PAGEMIND_TELEGRAM_", env_file=".env", extra="ignore"
    )

    token: SecretStr | None = None
    api_base_url: str = "https://api.telegram.org"  # your own Bot API server lifts the 20 MB limit
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None  # public HTTPS URL Telegram posts to
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: SecretStr | None = None
    poll_timeout: float = 30.0


class SlackSettings(PlatformSettings):
    model_config = SettingsConfigDict(env_prefix="PAGEMIND_SLACK_", env_file=".env", extra="ignore")

    bot_token: SecretStr | None = None  # xoxb-...
    app_token: SecretStr | None = None  # xapp-... (Socket Mode)
    signing_secret: SecretStr | None = None  # HTTP events
    mode: Literal["socket", "http"] = "socket"
    http_listen: str = "0.0.0.0"
    http_port: int = 3000
    api_base_url: str = "https://slack.com/api/"


class DiscordSettings(PlatformSettings):
    model_config = SettingsConfigDict(
        env_prefix="PAGEMIND_DISCORD_", env_file=".env", extra="ignore"
    )

    token: SecretStr | None = None
    shard_count: int | None = Field(None, ge=1)
    shard_ids: Names = Field(default_factory=list)
    message_content_intent: bool = True
    sync_commands: bool = True  # publish slash commands at start; true on one replica only
