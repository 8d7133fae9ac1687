"""The ``pagemind`` command."""

from __future__ import annotations

import asyncio
import sys

import typer
from rich.console import Console

from config.logging import setup_logging
from config.settings import NO_LLM_MESSAGE, SettingsError, load_settings
from core.errors import ConfigurationError, PagemindError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Pagemind: a MemGPT-style memory agent for Discord, Slack, Telegram and the terminal.",
)


@app.callback()
def _root() -> None:
    """Pagemind: a MemGPT-style memory agent for Discord, Slack, Telegram and the terminal."""


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a configuration or runtime problem plainly (no traceback) and exit."""
    print(message, file=sys.stderr)
    return typer.Exit(code)


@app.command()
def chat(
    agent: str = typer.Option(None, help="Agent key to talk to (default: console:<your user>)."),
    show_calls: bool = typer.Option(
        False, "--show-calls", help="Show the agent's inner thoughts and function calls."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO instead of WARNING."),
) -> None:
    """Chat with an agent in the terminal."""
    from adapters.console.chat import default_agent_key

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise fail(str(exc)) from None
    if not settings.llm_configured:
        raise fail(NO_LLM_MESSAGE)
    setup_logging("INFO" if verbose else "WARNING")
    try:
        asyncio.run(_chat(settings, agent or default_agent_key(), show_calls))
    except KeyboardInterrupt:
        pass
    except (ConfigurationError, SettingsError) as exc:
        raise fail(f"Configuration error: {exc}") from None
    except PagemindError as exc:
        raise fail(f"Error: {exc}", code=1) from None


async def _chat(settings, agent_key: str, show_calls: bool) -> None:
    from adapters.console.chat import ConsoleObserver, ConsoleReplySink, run_console
    from bots.bootstrap import build_service

    console = Console()
    observer = ConsoleObserver(console) if show_calls else None
    async with build_service(settings, replies=ConsoleReplySink(console), observer=observer) as svc:

        async def memory() -> str:
            session = await svc.runtime.session(agent_key)
            return session.state.memory.render()

        async def usage() -> str:
            state = (await svc.runtime.session(agent_key)).state
            today, total = state.usage_today, state.usage_total
            return (
                f"today: {today.calls} calls, {today.prompt_tokens:,} prompt tokens "
                f"({today.cached_tokens:,} cached), {today.completion_tokens:,} completion\n"
                f"total: {total.calls} calls, {total.total_tokens:,} tokens"
            )

        await run_console(
            console=console,
            agent_key=agent_key,
            clock=svc.clock,
            submit=svc.dispatcher.submit_and_wait,
            memory=memory,
            usage=usage,
        )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
