"""``pagemind ingest``: load files or folders into an agent's archival memory."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from adapters.console.progress import BarProgress, progress_bars
from bots.bootstrap import ingestion
from config.settings import Settings
from core.text import valid_text

log = logging.getLogger(__name__)


def files_in(paths: list[Path]) -> Iterator[Path]:
    """The files named, and every file under the folders named (hidden ones skipped)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path)
                if child.is_file() and not any(p.startswith(".") for p in relative.parts):
                    yield child
        else:
            yield path


async def ingest(settings: Settings, agent_key: str, paths: list[Path], console: Console) -> int:
    """Load every file; returns how many were not stored (refused, or being loaded by
    another process)."""
    async with ingestion(settings) as loading:
        if loading.repaired:
            console.print(f"Cleaned up {loading.repaired} interrupted upload(s).")
        refused = 0
        with progress_bars(console) as bars:
            for path in files_in(paths):
                shown = valid_text(str(path))  # a name that is not UTF-8 is still shown
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    console.print(f"{shown}: cannot read it ({exc.strerror})")
                    refused += 1
                    continue
                name = valid_text(path.name)
                progress = BarProgress(bars, console, name)
                result = await loading.pipeline.ingest(agent_key, name, data, progress=progress)
                # A file another load holds is not stored either: a script must not read
                # success into it.
                refused += result.outcome in ("rejected", "busy")
        return refused
