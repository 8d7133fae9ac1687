"""A terminal progress bar for ``pagemind ingest`` (the ``Progress`` of an upload)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn


class BarProgress:
    def __init__(self, bars: Progress, console: Console, label: str) -> None:
        self.bars = bars
        self.console = console
        self.task: TaskID = bars.add_task(label, total=None)

    async def update(self, done: int, total: int, text: str) -> None:
        self.bars.update(self.task, completed=done, total=total)

    async def finish(self, text: str) -> None:
        self.bars.remove_task(self.task)
        self.console.print(escape(text))


def progress_bars(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("passages"),
        console=console,
        transient=True,
    )
