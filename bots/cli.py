"""The ``pagemind`` command."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from config.logging import setup_logging
from config.settings import NO_LLM_MESSAGE, Settings, SettingsError, load_settings
from core.errors import ConfigurationError, PagemindError
from core.text import valid_text

T = TypeVar("T")

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


NO_MODEL_CHECK_HELP = (
    "Skip the check at start (one GET /models) for a model server that cannot answer it."
)


def settings_or_exit(*, needs_llm: bool = False, **overrides: object) -> Settings:
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        raise fail(str(exc)) from None
    if needs_llm and not settings.llm_configured:
        raise fail(NO_LLM_MESSAGE)
    return settings


def run_reporting_errors(work: Coroutine[Any, Any, T]) -> T | None:
    """Run ``work``; configuration and runtime errors become a plain message and an exit
    code (2 for configuration, 1 otherwise), Ctrl-C a quiet exit."""
    try:
        return asyncio.run(work)
    except KeyboardInterrupt:
        return None
    except (ConfigurationError, SettingsError) as exc:
        raise fail(f"Configuration error: {exc}") from None
    except PagemindError as exc:
        raise fail(f"Error: {exc}", code=1) from None


@app.command()
def chat(
    agent: Annotated[
        str | None, typer.Option(help="Agent key to talk to (default: console:<your user>).")
    ] = None,
    show_calls: Annotated[
        bool, typer.Option("--show-calls", help="Show the agent's inner thoughts and calls.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO.")] = False,
    no_model_check: Annotated[
        bool, typer.Option("--no-model-check", help=NO_MODEL_CHECK_HELP)
    ] = False,
) -> None:
    """Chat with an agent in the terminal."""
    from adapters.console.chat import default_agent_key

    settings = settings_or_exit(needs_llm=True, **_skip_check(no_model_check))
    setup_logging("INFO" if verbose else "WARNING")
    key = valid_text(agent or default_agent_key())
    code = run_reporting_errors(_chat(settings, key, show_calls))
    if code:
        raise typer.Exit(code)


async def _chat(settings: Settings, agent_key: str, show_calls: bool) -> int:
    """The chat; returns the exit code (non-zero if Ctrl-C or SIGTERM left a message
    unanswered: it is answered at the next start)."""
    from adapters.console.chat import ConsoleObserver, ConsoleReplySink, run_console
    from bots.bootstrap import bootstrap
    from bots.stopping import StopSignals, finish_turns

    console = Console()
    observer = ConsoleObserver(console) if show_calls else None
    async with bootstrap(settings, replies=ConsoleReplySink(console), observer=observer) as svc:

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

        stop = StopSignals().install()
        if await run_console(
            console=console,
            agent_key=agent_key,
            clock=svc.clock,
            submit=svc.dispatcher.submit_and_wait,
            memory=memory,
            usage=usage,
            stop=stop.requested,
        ):
            stop.remove()  # leaving normally: a signal now interrupts as it always does
            return 0
        grace = settings.shutdown_grace_seconds
        if svc.dispatcher.busy:
            console.print(
                f"[dim]Stopping: finishing the answer under way (up to {grace:.0f} s; "
                "Ctrl-C again to stop now).[/]"
            )
        await finish_turns(svc.dispatcher, grace, stop)
        left = svc.dispatcher.left
        if left:
            console.print(
                f"[yellow]{left} message(s) not answered yet: kept, and answered when "
                "this chat starts again.[/]"
            )
        return stop.exit_code(left)


@app.command()
def run(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at DEBUG.")] = False,
    no_model_check: Annotated[
        bool, typer.Option("--no-model-check", help=NO_MODEL_CHECK_HELP)
    ] = False,
) -> None:
    """Run the bots of every configured platform until SIGTERM or Ctrl-C."""
    from bots.run import run as run_service

    settings = settings_or_exit(needs_llm=True, **_skip_check(no_model_check))
    setup_logging("DEBUG" if verbose else settings.log_level)
    code = run_reporting_errors(run_service(settings))
    if code:
        raise typer.Exit(code)


@app.command()
def usage() -> None:
    """Tokens used per agent: on its last active day, and in total."""
    from bots.usage import report

    settings = settings_or_exit()
    setup_logging("WARNING")
    run_reporting_errors(report(settings, Console()))


@app.command(name="ingest")
def ingest_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to load.")],
    agent: Annotated[str, typer.Option("--agent", help="Agent key, e.g. telegram:user:12345.")],
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO.")] = False,
) -> None:
    """Load files or folders into an agent's archival memory."""
    from bots.ingest import ingest

    settings = settings_or_exit()
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise fail(f"No such file or folder: {', '.join(missing)}")
    setup_logging("INFO" if verbose else "WARNING")
    refused = run_reporting_errors(ingest(settings, valid_text(agent), paths, Console()))
    if refused is None:
        raise typer.Exit(130)
    if refused:
        raise typer.Exit(1)


keys_app = typer.Typer(
    help="The operator API's keys: 'pagemind keys' lists them; create and revoke.",
    invoke_without_command=True,
)
app.add_typer(keys_app, name="keys")


@keys_app.callback()
def keys_list(ctx: typer.Context) -> None:
    """List the keys: id, name, role, created, last used, revoked."""
    if ctx.invoked_subcommand is not None:
        return
    from bots.keys import show

    settings = settings_or_exit()
    setup_logging("WARNING")
    run_reporting_errors(show(settings, Console()))


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key.")],
    role: Annotated[str, typer.Option("--role", help="admin (reads and writes) or viewer.")],
) -> None:
    """Create a key and print it (once: only its hash is kept)."""
    from bots.keys import create

    if role not in ("admin", "viewer"):
        raise fail(f"--role is admin or viewer, not {role!r}")
    settings = settings_or_exit()
    setup_logging("WARNING")
    run_reporting_errors(create(settings, name, role, Console()))


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (pagemind keys).")],
) -> None:
    """Revoke a key: every request with it is refused from now on."""
    from bots.keys import revoke

    settings = settings_or_exit()
    setup_logging("WARNING")
    run_reporting_errors(revoke(settings, key_id, Console()))


def _skip_check(skip: bool) -> dict[str, object]:
    """The flag only ever turns the check off (PAGEMIND_LLM_CHECK=false does too)."""
    return {"llm_check": False} if skip else {}


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
