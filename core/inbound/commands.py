"""User commands: show, search, export and erase my memory, and help.

Platforms deliver them natively (Discord and Slack slash commands) or as text ("/memory",
"/search tea", "/memory@pagemind_bot" in Telegram groups). Show and search act on the agent
that answers in the conversation; export and erase act on the caller's own agent, never on
a shared channel agent. Erasing asks for a confirmation code first; the code is derived from
the agent and the time, so any replica can check it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from core.checkins.service import CheckinService
from core.checkins.when import parse_when
from core.clock import zone
from core.errors import ConcurrentUpdateError, ConfigurationError, ToolError
from core.events import Address, address_or_home
from core.inbound.agent_data import erase_agent, export_agent
from core.messages import Message
from core.operator.ports import MemoryEditStore
from core.ports import AgentStore, ArchivalStore, Clock, Embedder, Inbox, RecallStore
from core.records import ArchivalQuery, Page, RecallQuery
from core.search.ranking import message_terms, query_terms
from core.text import valid_text
from core.tools.formatting import format_page, message_line, passage_line

CommandName = Literal[
    "help", "memory", "search", "export", "erase", "checkins", "checkin", "timezone"
]
COMMANDS: tuple[CommandName, ...] = (
    "help",
    "memory",
    "search",
    "export",
    "erase",
    "checkins",
    "checkin",
    "timezone",
)
CONFIRM_WINDOW_SECONDS = 300
NOWHERE_TO_GO = "I don't know where to send a check-in from here; write to me first."

_TEXT_COMMAND = re.compile(r"^[/!](\w+)(?:@(\w+))?(?:\s+(.*))?$", re.S)

HELP = """Here is what I understand:
/memory: what I keep in mind about you
/search <words>: search everything we talked about and everything you gave me
/export: a file with everything I remember of you
/erase: forget everything about you (asks to confirm)
/checkins: my scheduled check-ins; /checkins cancel <id> to cancel one
/checkin at 2026-12-01 09:00 <note>, /checkin every 1d <note>, /checkin cron 0 9 * * 1-5 <note>
/timezone Europe/Lisbon: the time zone I use with you
/help: this message
Anything else you write, I simply read and answer."""


@dataclass(frozen=True, slots=True)
class Command:
    name: CommandName
    argument: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "argument", valid_text(self.argument))


@dataclass(frozen=True, slots=True)
class CommandReply:
    text: str
    file: tuple[str, bytes] | None = None


def parse_command(text: str, bot_username: str | None = None) -> Command | None:
    """A command in a text message, or None. "/x@otherbot" is for another bot: None."""
    match = _TEXT_COMMAND.match(text.strip())
    if not match:
        return None
    name, target, argument = match.group(1).lower(), match.group(2), match.group(3) or ""
    if target and bot_username and target.lower() != bot_username.lower():
        return None
    if name not in COMMANDS:
        return None
    return Command(name, argument.strip())


@dataclass(frozen=True, slots=True)
class CommandContext:
    conversation_agent: str  # the agent answering here (may be a channel's)
    own_agent: str  # the caller's own agent
    caller_id: str
    caller_name: str
    address: Address | None = None  # the conversation the command came from


class CommandHandler:
    def __init__(
        self,
        *,
        agents: AgentStore,
        recall: RecallStore,
        archival: ArchivalStore,
        inbox: Inbox,
        clock: Clock,
        embedder: Embedder | None = None,
        timezone: str = "UTC",
        forget: Callable[[str], None] | None = None,
        checkins: CheckinService | None = None,
        edits: MemoryEditStore | None = None,
    ) -> None:
        self.agents = agents
        self.edits = edits
        self.recall = recall
        self.archival = archival
        self.inbox = inbox
        self.clock = clock
        self.embedder = embedder
        self.tz = zone(timezone)
        self.forget = forget or (lambda agent_key: None)
        self.checkins = checkins
        self.default_timezone = timezone

    async def run(self, command: Command, ctx: CommandContext) -> CommandReply:
        match command.name:
            case "help":
                return CommandReply(HELP)
            case "memory":
                return await self._memory(ctx)
            case "search":
                return await self._search(command.argument, ctx)
            case "export":
                return await self._export(ctx)
            case "erase":
                return await self._erase(command.argument, ctx)
            case "checkins":
                return await self._checkins(command.argument, ctx)
            case "checkin":
                return await self._checkin(command.argument, ctx)
            case "timezone":
                return await self._timezone(command.argument, ctx)

    async def _memory(self, ctx: CommandContext) -> CommandReply:
        state = await self.agents.load(ctx.conversation_agent)
        if state is None:
            return CommandReply("I don't remember anything yet: we haven't talked.")
        lines = []
        for block in state.memory.blocks:
            if block.label.startswith("human:") and block.label != f"human:{ctx.caller_id}":
                continue  # in a channel, each person sees only what is kept about them
            title = "About you" if block.label.startswith("human") else "About me"
            lines.append(f"{title} ({block.label}, {len(block.value)}/{block.limit} characters):")
            lines.append(block.value or "(nothing yet)")
        messages = await self.recall.count(ctx.conversation_agent) + len(state.unfiled)
        passages = await self.archival.count(ctx.conversation_agent)
        lines.append(f"I also keep {messages:,} messages and {passages:,} archived passages.")
        return CommandReply("\n".join(lines))

    async def _search(self, words: str, ctx: CommandContext) -> CommandReply:
        if not words:
            return CommandReply("What should I look for? For example: /search birthday")
        key = ctx.conversation_agent
        said = await self.recall.search(key, RecallQuery(text=words, limit=5))
        state = await self.agents.load(key)
        if state is not None and state.unfiled:
            said = _with_carried(said, state.unfiled, words)
        embedding = None
        if self.embedder is not None:
            (embedding,) = await self.embedder.embed([words])
        kept = await self.archival.search(
            key, ArchivalQuery(text=words, embedding=embedding, limit=5)
        )
        return CommandReply(
            "In our conversations:\n"
            + format_page(said, 1, "messages", message_line(self.tz))
            + "\n\nIn what I keep:\n"
            + format_page(kept, 1, "results", passage_line)
        )

    async def _export(self, ctx: CommandContext) -> CommandReply:
        now = self.clock.now()
        data = await export_agent(
            ctx.own_agent,
            agents=self.agents,
            recall=self.recall,
            archival=self.archival,
            inbox=self.inbox,
            now=now,
            checkins=self.checkins.store if self.checkins else None,
            edits=self.edits,
        )
        body = data.model_dump_json(indent=2).encode()
        name = f"pagemind-memory-{now:%Y%m%d-%H%M}.json"
        summary = (
            f"Everything I remember of you: {len(data.messages):,} messages and "
            f"{len(data.passages):,} passages."
        )
        return CommandReply(summary, file=(name, body))

    async def _erase(self, argument: str, ctx: CommandContext) -> CommandReply:
        now = self.clock.now()
        if not argument:
            code = confirmation_code(ctx.own_agent, now)
            return CommandReply(
                "This makes me forget everything about you: our conversations, what I noted "
                "about you and the files you gave me. It cannot be undone.\n"
                f"To go ahead, send /erase {code} within 5 minutes."
            )
        if argument.strip().upper() not in valid_codes(ctx.own_agent, now):
            return CommandReply(
                "That code is wrong or expired; nothing was erased. Send /erase for a new one."
            )
        await erase_agent(
            ctx.own_agent,
            agents=self.agents,
            recall=self.recall,
            archival=self.archival,
            inbox=self.inbox,
            checkins=self.checkins.store if self.checkins else None,
            edits=self.edits,
        )
        self.forget(ctx.own_agent)
        return CommandReply("Done: I have forgotten everything about you.")

    async def _checkins(self, argument: str, ctx: CommandContext) -> CommandReply:
        if self.checkins is None:
            return CommandReply("Check-ins are not enabled here.")
        words = argument.split()
        if len(words) == 2 and words[0].lower() == "cancel":
            if await self.checkins.cancel(ctx.conversation_agent, words[1]):
                return CommandReply(f"Cancelled check-in {words[1]}.")
            return CommandReply(f"There is no check-in {words[1]}. Send /checkins to see them.")
        found = await self.checkins.active(ctx.conversation_agent)
        if not found:
            return CommandReply("No check-ins are scheduled.")
        lines = [c.line() for c in found]
        return CommandReply(
            "Scheduled check-ins:\n" + "\n".join(lines) + "\n/checkins cancel <id> cancels one."
        )

    async def _checkin(self, argument: str, ctx: CommandContext) -> CommandReply:
        if self.checkins is None:
            return CommandReply("Check-ins are not enabled here.")
        words = argument.split()
        usage = (
            "Say when and what: /checkin at 2026-12-01 09:00 call the bank, "
            "/checkin every 1d how are you?, or /checkin cron 0 9 * * 1-5 standup"
        )
        kind = words[0].lower() if words else ""
        sizes = {"at": 2, "every": 1, "cron": 5}
        if kind not in sizes or len(words) < 2 + sizes[kind]:
            return CommandReply(usage)
        when = " ".join(words[1 : 1 + sizes[kind]])
        note = " ".join(words[1 + sizes[kind] :])
        state = await self.agents.load(ctx.conversation_agent)
        tz = state.timezone if state is not None else self.default_timezone
        # It answers where it was asked for (the agent's own conversation otherwise).
        address = address_or_home(ctx.address, state.home if state is not None else None)
        if address is None:
            return CommandReply(NOWHERE_TO_GO)
        try:
            schedule = parse_when(
                at=when if kind == "at" else None,
                every=when if kind == "every" else None,
                cron=when if kind == "cron" else None,
                timezone=tz,
                now=self.clock.now(),
            )
            checkin = await self.checkins.schedule(
                ctx.conversation_agent,
                note,
                schedule,
                timezone=tz,
                created_by="user",
                address=address,
            )
        except ToolError as exc:
            return CommandReply(f"{exc}\n{usage}")
        return CommandReply(f"Scheduled: {checkin.line()}")

    async def _timezone(self, argument: str, ctx: CommandContext) -> CommandReply:
        key = ctx.conversation_agent
        if not argument:
            return CommandReply(
                f"I use {await self._timezone_of(key)}. Change it with /timezone Area/City."
            )
        try:
            zone(argument.strip())
        except ConfigurationError:
            return CommandReply(f"{argument!r} is not a time zone I know; try Europe/Lisbon.")
        for _ in range(3):
            state = await self.agents.load(key)
            if state is None:
                return CommandReply("We haven't talked yet; say hello first.")
            try:
                await self.agents.save(
                    state.model_copy(update={"timezone": argument.strip()}), state.version
                )
            except ConcurrentUpdateError:
                continue
            self.forget(key)
            return CommandReply(
                f"Done: I use {argument.strip()} from now on (new check-ins follow it)."
            )
        return CommandReply("I'm busy right now; try again in a moment.")

    async def _timezone_of(self, agent_key: str) -> str:
        state = await self.agents.load(agent_key)
        return state.timezone if state is not None else self.default_timezone


def _with_carried(page: Page[Message], carried: Sequence[Message], words: str) -> Page[Message]:
    """Recall results with the matching messages the state still carries (the agent's last
    step, not in recall storage yet) in front: they are the newest."""
    wanted = set(query_terms(words))
    newest = [m for m in reversed(carried) if wanted & set(message_terms(m.spoken_text()))]
    if not newest:
        return page
    items = (*newest, *(m for m in page.items if m.seq not in {n.seq for n in newest}))
    return Page(
        items[: page.limit], page.total + len(newest), page.offset, page.limit, page.exact_total
    )


def confirmation_code(agent_key: str, now: datetime) -> str:
    window = int(now.timestamp()) // CONFIRM_WINDOW_SECONDS
    return hashlib.sha256(f"erase:{agent_key}:{window}".encode()).hexdigest()[:6].upper()


def valid_codes(agent_key: str, now: datetime) -> set[str]:
    """This window's code and the previous one's (a code stays good 5 to 10 minutes)."""
    earlier = datetime.fromtimestamp(now.timestamp() - CONFIRM_WINDOW_SECONDS, tz=now.tzinfo)
    return {confirmation_code(agent_key, now), confirmation_code(agent_key, earlier)}
