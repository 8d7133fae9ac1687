"""``pagemind usage``: what each agent has spent, for operators."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from bots.bootstrap import stores
from config.settings import Settings
from core.clock import SystemClock


async def report(settings: Settings, console: Console) -> None:
    """Per agent: its last active day (UTC) with that day's tokens, and its total ever.
    (Agents keep one day of detail; the daily budget is counted on it.)"""
    clock = SystemClock()
    today = clock.now().date().isoformat()
    async with stores(settings) as storage:
        table = Table(title=f"Token usage per agent (today is {today}, UTC)")
        columns = ("agent", "last day", "calls", "prompt", "cached", "completion", "total ever")
        for column in columns:
            table.add_column(column, justify="left" if column in ("agent", "last day") else "right")
        for key in await storage.agents.list_keys():
            state = await storage.agents.load(key)
            if state is None:
                continue
            day = state.usage_today
            table.add_row(
                key,
                state.usage_day or "-",
                f"{day.calls:,}",
                f"{day.prompt_tokens:,}",
                f"{day.cached_tokens:,}",
                f"{day.completion_tokens:,}",
                f"{state.usage_total.total_tokens:,}",
            )
        console.print(table)
