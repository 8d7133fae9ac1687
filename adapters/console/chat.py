"""An interactive terminal chat with one agent.

Lines typed become ``UserMessageReceived`` events; the agent's messages are printed as they
are delivered. ``/memory`` prints the working context, ``/exit`` (or Ctrl-D) leaves. With
``show_calls`` the agent's inner thoughts, function calls and their results are shown too.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence

from rich.console import Console
from rich.markup import escape

from core.events import Address, Event, SendReply, UserMessageReceived
from core.messages import Message
from core.ports import Clock
from core.text import valid_text

HELP = """Commands:
  /memory   show the agent's working context
  /usage    show tokens used today and in total
  /help     this help
  /exit     leave (Ctrl-D works too)"""

CONSOLE_ADDRESS = Address(platform="console", channel_id="console", is_direct=True)


def default_agent_key() -> str:
    return f"console:{getpass.getuser()}"


class ConsoleReplySink:
    def __init__(self, console: Console) -> None:
        self.console = console

    async def send(self, reply: SendReply) -> None:
        self.console.print(f"[bold green]agent>[/] {escape(reply.text)}")


class ConsoleObserver:
    """Prints each stored step's thoughts, calls and results (``--show-calls``)."""

    def __init__(self, console: Console, result_chars: int = 300) -> None:
        self.console = console
        self.result_chars = result_chars

    def step_stored(self, agent_key: str, messages: Sequence[Message]) -> None:
        for message in messages:
            if message.kind == "assistant":
                if message.content:
                    self.console.print(f"[dim italic]  thinks: {escape(message.content)}[/]")
                for call in message.tool_calls:
                    self.console.print(f"[dim]  calls {call.name}({escape(call.arguments)})[/]")
            elif message.kind == "tool_result":
                text = message.content
                if len(text) > self.result_chars:
                    text = text[: self.result_chars] + " …"
                self.console.print(f"[dim]  -> {escape(text)}[/]")
            elif message.kind == "system_alert":
                self.console.print(f"[yellow]  system: {escape(message.content)}[/]")


async def run_console(
    *,
    console: Console,
    agent_key: str,
    clock: Clock,
    submit: Callable[[Event], Awaitable[bool]],
    memory: Callable[[], Awaitable[str]],
    usage: Callable[[], Awaitable[str]],
    read_line: Callable[[str], str] | None = None,
) -> None:
    if read_line is None and hasattr(sys.stdin, "reconfigure"):
        # Whatever the locale says, a byte that does not decode must not end the chat.
        sys.stdin.reconfigure(errors="surrogateescape")
    reader = read_line or console.input
    author = valid_text(agent_key.split(":", 1)[-1])
    console.print(f"[dim]Chatting with agent {escape(agent_key)}. /help for commands.[/]")
    while True:
        try:
            # A byte that is not UTF-8 arrives as a lone surrogate: made valid here, so the
            # line is kept (with U+FFFD in its place) and the next one is read.
            line = valid_text(await asyncio.to_thread(reader, "[bold]you>[/] "))
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return
        if text == "/help":
            console.print(HELP)
            continue
        if text == "/memory":
            console.print(escape(await memory()))
            continue
        if text == "/usage":
            console.print(await usage())
            continue
        event = UserMessageReceived(
            event_id=f"console:{uuid.uuid4().hex}",
            agent_key=agent_key,
            occurred_at=clock.now(),
            text=line,
            author_name=author,
            reply_to=CONSOLE_ADDRESS,
        )
        with console.status("thinking…", spinner="dots"):
            await submit(event)
