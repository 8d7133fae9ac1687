"""The chat platforms: which are configured, the operator's policy for each, and their
adapters, built here (part of the composition root) and nowhere else. Tests and benchmarks
build adapters through ``platform_adapter`` too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from config.platforms import DiscordSettings, PlatformSettings, SlackSettings, TelegramSettings
from core.inbound.gateway import Gateway
from core.inbound.messages import PlatformPolicy
from core.ports import PlatformFiles, ReplySink

NO_PLATFORM = """No chat platform is configured: serving the operator API only. To run bots, set
the credentials of at least one:
  Telegram: PAGEMIND_TELEGRAM_TOKEN
  Slack:    PAGEMIND_SLACK_BOT_TOKEN and PAGEMIND_SLACK_APP_TOKEN (Socket Mode),
            or PAGEMIND_SLACK_BOT_TOKEN, PAGEMIND_SLACK_SIGNING_SECRET and PAGEMIND_SLACK_MODE=http
  Discord:  PAGEMIND_DISCORD_TOKEN
See the README for how to create each bot and the permissions it needs."""


class PlatformAdapter(ReplySink, PlatformFiles, Protocol):
    """What ``run`` needs of a platform adapter, besides replies and files."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Platform:
    name: str
    settings: PlatformSettings

    def build(self, gateway: Gateway, policy: PlatformPolicy, **tuning: Any) -> PlatformAdapter:
        return platform_adapter(self.name, self.settings, gateway, policy, **tuning)


def policy_for(platform: PlatformSettings) -> PlatformPolicy:
    """The operator's policy for one platform, from its settings."""
    return PlatformPolicy(
        scope=platform.scope,
        answer=platform.answer,
        allowed_users=frozenset(platform.allowed_users),
        allowed_workspaces=frozenset(platform.allowed_workspaces),
        allowed_channels=frozenset(platform.allowed_channels),
        admins=frozenset(platform.admins),
        admin_only_commands=frozenset(platform.admin_only_commands),
        messages_per_minute=platform.messages_per_minute,
        max_upload_bytes=int(platform.max_upload_mb * 2**20),
    )


def configured_platforms() -> list[Platform]:
    """The platforms whose credentials are set."""
    found: list[Platform] = []
    telegram = TelegramSettings()
    if telegram.token is not None:
        found.append(Platform("telegram", telegram))
    slack = SlackSettings()
    if slack.bot_token is not None:
        found.append(Platform("slack", slack))
    discord = DiscordSettings()
    if discord.token is not None:
        found.append(Platform("discord", discord))
    return found


def platform_adapter(
    name: str,
    settings: PlatformSettings,
    gateway: Gateway,
    policy: PlatformPolicy,
    **tuning: Any,
) -> PlatformAdapter:
    """The adapter of platform ``name`` (its library is imported only now). ``tuning``: the
    adapter's keyword options (retries, intervals), for tests; production uses defaults."""
    return _BUILDERS[name](settings, gateway, policy, tuning)


def _telegram(
    settings: PlatformSettings, gateway: Gateway, policy: PlatformPolicy, tuning: dict[str, Any]
) -> PlatformAdapter:
    from adapters.telegram_chat import TelegramAdapter

    assert isinstance(settings, TelegramSettings)
    return TelegramAdapter(settings, gateway, policy, **tuning)


def _slack(
    settings: PlatformSettings, gateway: Gateway, policy: PlatformPolicy, tuning: dict[str, Any]
) -> PlatformAdapter:
    from adapters.slack_chat import SlackAdapter

    assert isinstance(settings, SlackSettings)
    return SlackAdapter(settings, gateway, policy, **tuning)


def _discord(
    settings: PlatformSettings, gateway: Gateway, policy: PlatformPolicy, tuning: dict[str, Any]
) -> PlatformAdapter:
    from adapters.discord_chat import DiscordAdapter

    assert isinstance(settings, DiscordSettings)
    tuning.setdefault("sync_commands", settings.sync_commands)
    return DiscordAdapter(settings, gateway, policy, **tuning)


_BUILDERS: dict[
    str,
    Callable[[PlatformSettings, Gateway, PlatformPolicy, dict[str, Any]], PlatformAdapter],
] = {"telegram": _telegram, "slack": _slack, "discord": _discord}
