"""An interactive terminal chat with one agent.

Lines typed become ``UserMessageReceived`` events; the agent's messages are printed as they
are delivered. ``/memory`` prints the working context, ``/exit`` (or Ctrl-D) leaves. With
``show_calls`` the agent's inner thoughts, function calls and their results are shown too.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable, Sequence

from rich.console import Console
from rich.markup import escape

from core.agent_key import AgentKey
from core.events import Address, Event, SendReply, UserMessageReceived
from core.messages import Message
from core.ports import Clock
from core.ports.workers import LeaseHolder
from core.text import valid_text

HELP = """Commands:
  /memory   show the agent's working context
  /usage    show tokens used today and in total
  /help     this help
  /exit     leave (Ctrl-D works too)"""

CONSOLE_ADDRESS = Address(platform="console", channel_id="console", is_direct=True)


def default_agent_key() -> str:
    return str(AgentKey.short("console", getpass.getuser()))


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
    submit: Callable[[Event, Callable[[LeaseHolder], None]], Awaitable[bool]],
    memory: Callable[[], Awaitable[str]],
    usage: Callable[[], Awaitable[str]],
    read_line: Callable[[str], str] | None = None,
    stop: asyncio.Event | None = None,
) -> bool:
    """Chat until ``/exit`` or the end of input (True), or until ``stop`` is set (False: a
    turn may still be under way; the caller finishes or cancels it). Lines are read in a
    daemon thread, so a stop never waits for the user to press Enter."""
    if read_line is None and hasattr(sys.stdin, "reconfigure"):
        # Whatever the locale says, a byte that does not decode must not end the chat.
        sys.stdin.reconfigure(errors="surrogateescape")
    reader = read_line or console.input
    stop = stop or asyncio.Event()
    stopped = asyncio.ensure_future(stop.wait())
    author = valid_text(agent_key.split(":", 1)[-1])
    console.print(f"[dim]Chatting with agent {escape(agent_key)}. /help for commands.[/]")
    told: set[tuple[str, bool | None]] = set()

    def waiting_for(holder: LeaseHolder) -> None:
        if (holder.worker, holder.running) not in told:
            told.add((holder.worker, holder.running))
            console.print(f"[yellow]{escape(elsewhere(holder))}[/]")

    try:
        while True:
            line_read = asyncio.ensure_future(_read_in_thread(reader, "[bold]you>[/] "))
            await asyncio.wait({line_read, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not line_read.done():
                line_read.cancel()
                console.print()
                return False
            try:
                # A byte that is not UTF-8 arrives as a lone surrogate: made valid here, so
                # the line is kept (with U+FFFD in its place) and the next one is read.
                line = valid_text(line_read.result())
            except (EOFError, KeyboardInterrupt):
                console.print()
                return True
            text = line.strip()
            if not text:
                continue
            if text in ("/exit", "/quit"):
                return True
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
            turn = asyncio.ensure_future(submit(event, waiting_for))
            with console.status("thinking…", spinner="dots"):
                await asyncio.wait({turn, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not turn.done():
                turn.cancel()  # only the wait: the turn itself is the dispatcher's to finish
                return False
            turn.result()
    finally:
        stopped.cancel()


def elsewhere(holder: LeaseHolder) -> str:
    """What the console says when another process runs the agent."""
    who = f"another Pagemind process ({holder.where or holder.worker})"
    if holder.running:
        return f"This agent is open in {who}; it answers there. Your message is saved."
    return (
        f"Waiting for {who}, which is running this agent: it answers there, or, if it has "
        f"stopped, this process takes over when its lease runs out in {holder.expires_in:.0f} s."
    )


async def _read_in_thread(reader: Callable[[str], str], prompt: str) -> str:
    """``reader(prompt)`` in a daemon thread (one the interpreter does not wait for)."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[str] = loop.create_future()

    def deliver(value: str | None, error: BaseException | None) -> None:
        if result.done():
            return
        if error is not None:
            result.set_exception(error)
        else:
            result.set_result(value or "")

    def read() -> None:
        try:
            value, error = reader(prompt), None
        except BaseException as exc:  # EOFError, KeyboardInterrupt: the caller decides
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # the chat has ended meanwhile
            loop.call_soon_threadsafe(deliver, value, error)

    threading.Thread(target=read, name="console-input", daemon=True).start()
    return await result
