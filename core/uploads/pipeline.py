"""Loading a file into an agent's archival memory, all of it or none of it, once.

Steps: refuse what is too large; hash the bytes (the same file twice is stored once per
agent); parse in a thread; chunk each section by tokens with overlap; embed in batches when
an embedder is configured; stage the passages (invisible), then publish them together; tell
the agent with an ``UploadCompleted`` event in its ordered queue. Progress is reported as it
goes; every refusal comes back as a message written for the user.

A load that fails at any step, publishing included (a database that times out may still have
done the work), is abandoned: every passage of it is removed before the failure is reported,
so a file reported as failed is not searchable and a second try stores it once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Literal

from core.context.chunking import chunk_text
from core.context.tokens import TokenCounter
from core.errors import StorageError, UploadError
from core.events import Address, Event, UploadCompleted
from core.ports import ArchivalStore, Clock, Embedder, Progress
from core.ports.uploads import DocumentParser, ParsedDocument
from core.records import Passage
from core.text import plural, valid_text

log = logging.getLogger(__name__)


Outcome = Literal["stored", "duplicate", "busy", "rejected"]


ABANDON_ATTEMPTS = 3


@dataclass(frozen=True)
class UploadResult:
    outcome: Outcome
    filename: str
    passages: int
    message: str  # for the user


@dataclass(frozen=True)
class UploadSettings:
    max_bytes: int = 20 * 2**20
    # chosen on LoCoMo with half the conversations held out (docs/benchmarks.md)
    chunk_tokens: int = 260
    overlap_tokens: int = 60
    batch: int = 64  # passages embedded and staged per round trip
    stale_after: float = 180.0  # a load silent this long is dead (parsing is bounded at 120 s)


class UploadPipeline:
    def __init__(
        self,
        *,
        archival: ArchivalStore,
        parser: DocumentParser,
        counter: TokenCounter,
        clock: Clock,
        notify: Callable[[Event], Awaitable[bool]],
        embedder: Embedder | None = None,
        settings: UploadSettings = UploadSettings(),
    ) -> None:
        self.archival = archival
        self.parser = parser
        self.counter = counter
        self.clock = clock
        self.notify = notify
        self.embedder = embedder
        self.settings = settings

    async def ingest(
        self,
        agent_key: str,
        filename: str,
        data: bytes,
        *,
        mime: str | None = None,
        reply_to: Address | None = None,
        progress: Progress | None = None,
    ) -> UploadResult:
        try:
            result = await self._ingest(agent_key, filename, data, mime, reply_to, progress)
        except UploadError as exc:
            result = UploadResult("rejected", filename, 0, str(exc))
        if progress is not None:
            await progress.finish(result.message)
        return result

    async def _ingest(
        self,
        agent_key: str,
        filename: str,
        data: bytes,
        mime: str | None,
        reply_to: Address | None,
        progress: Progress | None,
    ) -> UploadResult:
        filename = valid_text(filename)  # a file system's or platform's name, as given
        limit = self.settings.max_bytes
        if len(data) > limit:
            raise UploadError(
                f'"{filename}" is {len(data) / 2**20:.1f} MB; I can take files of up to '
                f"{limit / 2**20:.0f} MB. Try splitting it into smaller files."
            )
        document_id = hashlib.sha256(data).hexdigest()
        started = self.clock.now()
        status = await self.archival.begin_document(
            agent_key, document_id, filename, started, self.settings.stale_after
        )
        if status == "stored":
            return UploadResult("duplicate", filename, 0, f'I already have "{filename}".')
        if status == "busy":
            # Its loader reports progress at least every ``stale_after`` seconds, or it is
            # dead and taken over: by then at the latest, sending it again works.
            latest = (started + timedelta(seconds=self.settings.stale_after)).astimezone(UTC)
            return UploadResult(
                "busy",
                filename,
                0,
                f'"{filename}" is being read already (here or by another process). If that '
                f"load has stopped, it is taken over from {latest:%H:%M:%S} UTC at the latest: "
                "try again then.",
            )
        try:
            parsed = await asyncio.to_thread(
                self.parser, data, filename, max_bytes=limit, mime=mime
            )
            passages = self._passages(parsed, document_id)
            await self._stage(agent_key, document_id, filename, passages, progress)
            count = await self.archival.publish_document(agent_key, document_id, self.clock.now())
            where = f"{plural(parsed.pages, 'page')}, " if parsed.pages else ""
            await self.notify(
                UploadCompleted(
                    event_id=f"upload:{agent_key}:{document_id}",
                    agent_key=agent_key,
                    occurred_at=self.clock.now(),
                    filename=parsed.filename,
                    passages=count,
                    detail=f"({where}{plural(len(parsed.sections), 'section')}; search it with "
                    "archival_memory_search)",
                    reply_to=reply_to,
                )
            )
        except BaseException:
            await asyncio.shield(self._abandon(agent_key, document_id, filename))
            raise
        log.info("stored %s: %d passages", parsed.filename, count, extra={"agent_key": agent_key})
        return UploadResult(
            "stored",
            parsed.filename,
            count,
            f'Stored "{parsed.filename}": {plural(count, "passage")}.',
        )

    async def _abandon(self, agent_key: str, document_id: str, filename: str) -> None:
        """Remove every passage of a failed load (the database may be what failed: try a
        few times; what is left is removed when the file is sent again, or at start)."""
        for attempt in range(1, ABANDON_ATTEMPTS + 1):
            try:
                await self.archival.abandon_document(agent_key, document_id)
                return
            except StorageError as exc:
                if attempt == ABANDON_ATTEMPTS:
                    log.error(
                        "could not remove the failed load of %s: %s",
                        filename,
                        exc,
                        extra={"agent_key": agent_key},
                    )
                    return
                await asyncio.sleep(0.5 * attempt)

    def _passages(self, parsed: ParsedDocument, document_id: str) -> list[Passage]:
        s = self.settings
        now = self.clock.now()
        out: list[Passage] = []
        for section in parsed.sections:
            for text in chunk_text(section.text, self.counter, s.chunk_tokens, s.overlap_tokens):
                out.append(
                    Passage(
                        id=f"{document_id[:32]}:{len(out)}",
                        text=text,
                        source=parsed.filename,
                        section=section.label,
                        chunk_index=len(out),
                        document_id=document_id,
                        created_at=now,
                    )
                )
        if not out:
            raise UploadError(f'"{parsed.filename}" has no text I can keep.')
        return out

    async def _stage(
        self,
        agent_key: str,
        document_id: str,
        filename: str,
        passages: Sequence[Passage],
        progress: Progress | None,
    ) -> None:
        total = len(passages)
        for start in range(0, total, self.settings.batch):
            batch = list(passages[start : start + self.settings.batch])
            if self.embedder is not None:
                vectors = await self.embedder.embed([p.text for p in batch])
                batch = [
                    p.model_copy(update={"embedding": v})
                    for p, v in zip(batch, vectors, strict=True)
                ]
            await self.archival.stage(agent_key, document_id, batch, self.clock.now())
            if progress is not None:
                done = start + len(batch)
                await progress.update(
                    done, total, f'Reading "{filename}": {done} of {plural(total, "passage")}'
                )
