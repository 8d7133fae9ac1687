"""``pagemind run``: every configured platform, the agent workers, and a graceful stop.

On SIGTERM (or Ctrl-C): no new turn starts here (incoming events are still recorded in the
inbox); the turns under way and the uploads under way get the grace period to finish (a
second signal cuts it short), then are cancelled; the platforms disconnect and everything
closes. Nothing is lost: what was recorded and not finished is picked up by another replica
or at the next start, and the process exits non-zero if anything was left (see
``bots.stopping``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bots.api import serve_api
from bots.bootstrap import Service, build_service
from bots.stopping import StopSignals, finish_turns
from bots.uploads import upload_pipeline
from config.platforms import DiscordSettings, PlatformSettings, SlackSettings, TelegramSettings
from config.settings import Settings
from core.commands import CommandHandler
from core.gateway import Gateway, ReplyRouter
from core.inbound import PlatformPolicy
from core.ports import PlatformFiles, ReplySink
from core.uploads import PlatformUploads, UploadPipeline

log = logging.getLogger(__name__)

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
    build: Callable[[Gateway, PlatformPolicy], PlatformAdapter]


def policy_for(platform: PlatformSettings, reply_limit: int) -> PlatformPolicy:
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
        reply_limit=reply_limit,
    )


def configured_platforms() -> list[Platform]:
    """The platforms whose credentials are set (adapters are imported only for those)."""
    found: list[Platform] = []
    telegram = TelegramSettings()
    if telegram.token is not None:

        def build_telegram(gateway: Gateway, policy: PlatformPolicy) -> PlatformAdapter:
            from adapters.telegram_chat import TelegramAdapter

            return TelegramAdapter(telegram, gateway, policy)

        found.append(Platform("telegram", telegram, build_telegram))
    slack = SlackSettings()
    if slack.bot_token is not None:

        def build_slack(gateway: Gateway, policy: PlatformPolicy) -> PlatformAdapter:
            from adapters.slack_chat import SlackAdapter

            return SlackAdapter(slack, gateway, policy)

        found.append(Platform("slack", slack, build_slack))
    discord = DiscordSettings()
    if discord.token is not None:

        def build_discord(gateway: Gateway, policy: PlatformPolicy) -> PlatformAdapter:
            from adapters.discord_chat import DiscordAdapter

            return DiscordAdapter(discord, gateway, policy, sync_commands=discord.sync_commands)

        found.append(Platform("discord", discord, build_discord))
    return found


REPLY_LIMITS = {"telegram": 4096, "slack": 4000, "discord": 2000}


async def run(settings: Settings, stop: StopSignals | None = None) -> int:
    """Run until a stop signal; returns the exit code (see ``bots.stopping``)."""
    platforms = configured_platforms()
    stop = stop or StopSignals().install()
    replies = ReplyRouter()
    async with build_service(settings, replies=replies) as svc, serve_api(svc) as api:
        if not platforms:
            log.warning("%s", NO_PLATFORM)
        gateway, pipeline = _front_door(svc, platforms)
        started: list[PlatformAdapter] = []
        intakes: list[PlatformUploads] = []
        try:
            for platform in platforms:
                adapter = platform.build(gateway, gateway.policy(platform.name))
                replies.register(platform.name, adapter)
                intake = PlatformUploads(
                    pipeline, adapter, max_bytes=int(platform.settings.max_upload_mb * 2**20)
                )
                gateway.uploads[platform.name] = intake
                intakes.append(intake)
                await adapter.start()
                started.append(adapter)
                log.info("%s: started", platform.name)
            log.info(
                "Pagemind is running: %s; storage %s",
                ", ".join([*(p.name for p in platforms), f"the operator API at {api.url}"]),
                svc.storage.description,
            )
            await stop.requested.wait()
            api.stop()  # no new requests; those under way finish
            grace = settings.shutdown_grace_seconds
            log.info("stopping: finishing the turns under way (up to %.0f s)", grace)
            deadline = asyncio.get_running_loop().time() + grace
            if not await finish_turns(svc.dispatcher, grace, stop):
                # What is cut off stays unfinished in the inbox and is resumed from its
                # last stored step by the next worker to take its agent.
                log.warning("grace period over: stopping the turns still running")
            try:
                async with asyncio.timeout_at(deadline):
                    for intake in intakes:
                        await intake.join()
                    await api.uploads.join()
            except TimeoutError:
                log.warning("grace period over: stopping the uploads still running")
        finally:
            for adapter in reversed(started):
                try:
                    await adapter.stop()
                except Exception:
                    log.exception("a platform did not stop cleanly")
            for intake in intakes:
                await intake.aclose()
        left = svc.dispatcher.left
    if left:
        log.warning(
            "stopped with %d event(s) unfinished: another replica or the next start processes them",
            left,
        )
    else:
        log.info("stopped")
    return stop.exit_code(left)


def _front_door(svc: Service, platforms: list[Platform]) -> tuple[Gateway, UploadPipeline]:
    storage = svc.storage
    commands = CommandHandler(
        agents=storage.agents,
        recall=storage.recall,
        archival=storage.archival,
        inbox=storage.inbox,
        clock=svc.clock,
        embedder=svc.embedder,
        timezone=svc.settings.timezone,
        forget=svc.runtime.forget,
        checkins=svc.checkins,
    )
    policies = {p.name: policy_for(p.settings, REPLY_LIMITS[p.name]) for p in platforms}
    gateway = Gateway(dispatcher=svc.dispatcher, commands=commands, policies=policies)
    return gateway, upload_pipeline(svc)
