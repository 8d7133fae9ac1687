"""``pagemind ingest``: load files or folders into an agent's archival memory."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

from rich.console import Console

from adapters.console.progress import BarProgress, progress_bars
from adapters.documents import parse_document
from bots.bootstrap import embedder
from bots.storage import open_storage
from config.settings import Settings
from core.clock import SystemClock
from core.context.tokens import TokenCounter
from core.events import Event
from core.text import valid_text
from core.uploads.pipeline import UploadPipeline, UploadSettings

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
    clock = SystemClock()
    async with AsyncExitStack() as stack:
        storage = await open_storage(settings, clock, stack)
        upload = UploadSettings(
            max_bytes=int(settings.max_upload_mb * 2**20),
            stale_after=settings.upload_stale_seconds,
        )
        repaired = await storage.archival.recover_documents(
            clock.now() - timedelta(seconds=upload.stale_after)
        )
        if repaired:
            console.print(f"Cleaned up {repaired} interrupted upload(s).")
        model = settings.llm_model or "gpt-4o-mini"

        async def notify(event: Event) -> bool:
            """Record the agent's upload event; a running worker is rung to take it now
            (otherwise it is read at its next inbox poll, or at the next start)."""
            fresh = await storage.inbox.put(event)
            if fresh:
                await storage.leases.nudge(event.agent_key)
            return fresh

        pipeline = UploadPipeline(
            archival=storage.archival,
            parser=parse_document,
            counter=TokenCounter(model),
            clock=clock,
            notify=notify,
            embedder=await embedder(settings, stack),
            settings=upload,
        )
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
                result = await pipeline.ingest(agent_key, name, data, progress=progress)
                # A file another load holds is not stored either: a script must not read
                # success into it.
                refused += result.outcome in ("rejected", "busy")
        return refused
