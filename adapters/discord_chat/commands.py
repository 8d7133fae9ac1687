"""Pagemind's commands as Discord application (slash) commands: /help, /memory,
/search query, /export, /erase [code].

Each is answered privately (ephemeral, only the caller sees it): the interaction is deferred
at once (Discord allows 3 seconds for a first response; a search or an export may take
longer), then the deferred "thinking" message is replaced with the answer, and the rest of a
long answer and any file follow as private follow-ups.
"""

from __future__ import annotations

import asyncio
import io
import logging

import aiohttp
import discord
from discord import app_commands

from core.inbound.commands import COMMANDS, Command, CommandName
from core.inbound.gateway import GatewayResult
from core.ports import GatewayPort
from core.split import split_message
from core.tasks import BackgroundTasks

from .outbound import DISCORD_MESSAGE_LIMIT, fit_file
from .translate import incoming_command

log = logging.getLogger(__name__)

DESCRIPTIONS: dict[CommandName, str] = {
    "help": "What I understand",
    "memory": "What I keep in mind about you",
    "search": "Search everything we talked about and everything you gave me",
    "export": "Get a file with everything I remember of you",
    "erase": "Forget everything about you (asks you to confirm first)",
    "checkins": "Your scheduled check-ins (or cancel one)",
    "checkin": "Schedule a check-in",
    "timezone": "The time zone I use with you",
}
SOMETHING_WENT_WRONG = "Sorry, something went wrong on my side; please try again."


class SlashCommands:
    """The command tree (attached to the client on creation) and its answers."""

    def __init__(
        self,
        client: discord.Client,
        gateway: GatewayPort,
        tasks: BackgroundTasks,
        *,
        timeout: float = 60.0,
    ) -> None:
        self.tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)
        self._gateway = gateway
        self._tasks = tasks
        self._timeout = timeout
        self._define()
        defined = {c.name for c in self.tree.get_commands()}
        if defined != set(COMMANDS):
            raise RuntimeError(f"Discord commands {sorted(defined)} != core's {list(COMMANDS)}")

    async def sync(self) -> list[str]:
        """Publish the commands (globally: in every server and in DMs). Names synced; a
        failure is logged, not raised: text commands keep working without them."""
        try:
            async with asyncio.timeout(self._timeout):
                synced = await self.tree.sync()
        except discord.Forbidden as exc:
            log.warning(
                "could not register Discord slash commands (invite the bot with the "
                "applications.commands scope): %s",
                exc.text,
            )
            return []
        except (discord.DiscordException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("could not register Discord slash commands: %r", exc)
            return []
        return [command.name for command in synced]

    def _define(self) -> None:
        tree = self.tree

        @tree.command(name="help", description=DESCRIPTIONS["help"])
        async def help_(interaction: discord.Interaction) -> None:
            self._start(interaction, Command("help"))

        @tree.command(name="memory", description=DESCRIPTIONS["memory"])
        async def memory(interaction: discord.Interaction) -> None:
            self._start(interaction, Command("memory"))

        @tree.command(name="search", description=DESCRIPTIONS["search"])
        @app_commands.describe(query="The words to look for")
        async def search(interaction: discord.Interaction, query: str) -> None:
            self._start(interaction, Command("search", query.strip()))

        @tree.command(name="export", description=DESCRIPTIONS["export"])
        async def export(interaction: discord.Interaction) -> None:
            self._start(interaction, Command("export"))

        @tree.command(name="erase", description=DESCRIPTIONS["erase"])
        @app_commands.describe(code="The confirmation code I gave you (leave empty to get one)")
        async def erase(interaction: discord.Interaction, code: str | None = None) -> None:
            self._start(interaction, Command("erase", (code or "").strip()))

        @tree.command(name="checkins", description=DESCRIPTIONS["checkins"])
        @app_commands.describe(cancel="The id of a check-in to cancel (leave empty to list)")
        async def checkins(interaction: discord.Interaction, cancel: str | None = None) -> None:
            argument = f"cancel {cancel.strip()}" if cancel else ""
            self._start(interaction, Command("checkins", argument))

        @tree.command(name="checkin", description=DESCRIPTIONS["checkin"])
        @app_commands.describe(
            when="at 2026-12-01 09:00, every 1d, or cron 0 9 * * 1-5", note="What it is for"
        )
        async def checkin(interaction: discord.Interaction, when: str, note: str) -> None:
            self._start(interaction, Command("checkin", f"{when.strip()} {note.strip()}"))

        @tree.command(name="timezone", description=DESCRIPTIONS["timezone"])
        @app_commands.describe(zone="An IANA name such as Europe/Lisbon (empty: show it)")
        async def timezone(interaction: discord.Interaction, zone: str | None = None) -> None:
            self._start(interaction, Command("timezone", (zone or "").strip()))

    def _start(self, interaction: discord.Interaction, command: Command) -> None:
        self._tasks.spawn(
            self._answer(interaction, command), name=f"discord-command:{interaction.id}"
        )

    async def _answer(self, interaction: discord.Interaction, command: Command) -> None:
        where = f"/{command.name} (interaction {interaction.id}, channel {interaction.channel_id})"
        try:
            async with asyncio.timeout(self._timeout):
                await interaction.response.defer(ephemeral=True, thinking=True)
            result = await self._gateway.command(incoming_command(interaction, command), command)
            log.info("discord %s: %s", where, result.status, extra=_context(result))
            async with asyncio.timeout(self._timeout):
                await self._respond(interaction, result)
        except discord.NotFound:
            log.warning("%s expired before it was answered", where)
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("could not answer %s: %r", where, exc)
        except Exception:
            log.exception("failed to run %s", where)
            await self._apologise(interaction)

    @staticmethod
    async def _respond(interaction: discord.Interaction, result: GatewayResult) -> None:
        text = result.reply or ("Here it is." if result.file else "Done.")
        text, attachment = fit_file(text, result.file, interaction.filesize_limit)
        first, *rest = split_message(text, DISCORD_MESSAGE_LIMIT) or ["Done."]
        await interaction.edit_original_response(content=first)
        for piece in rest:
            await interaction.followup.send(piece, ephemeral=True)
        if attachment is not None:
            name, data = attachment
            file = discord.File(io.BytesIO(data), filename=name)
            await interaction.followup.send(file=file, ephemeral=True)

    async def _apologise(self, interaction: discord.Interaction) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                if interaction.response.is_done():
                    await interaction.edit_original_response(content=SOMETHING_WENT_WRONG)
                else:
                    await interaction.response.send_message(SOMETHING_WENT_WRONG, ephemeral=True)
        except (discord.DiscordException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.debug("could not apologise for interaction %s: %r", interaction.id, exc)


def _context(result: GatewayResult) -> dict[str, str]:
    return {"agent_key": result.agent_key or "-"}
