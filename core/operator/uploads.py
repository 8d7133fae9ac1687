"""Files uploaded by an operator: loaded by the same pipeline as a file sent in a chat
(``core.uploads``: the same limits, parsing, chunking, all-or-nothing publication, and the
``UploadCompleted`` event that tells the agent), in the background, as a job whose progress
is kept in the job store so that any replica can answer a poll."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Protocol

from core.ids import RandomIds
from core.operator.audit import Audit
from core.operator.errors import NotFoundError, PayloadTooLargeError
from core.operator.keys import Caller
from core.operator.ports import UploadJobStore
from core.operator.records import UploadJob
from core.ports import AgentStore, Clock, IdSource
from core.ports.uploads import Progress
from core.tasks import BackgroundTasks
from core.uploads.pipeline import UploadResult
from core.uploads.platform import UPLOAD_FAILED

log = logging.getLogger(__name__)


class Ingest(Protocol):
    """``UploadPipeline.ingest``, as much of it as a job needs."""

    def __call__(
        self, agent_key: str, filename: str, data: bytes, *, mime: str | None = ...,
        progress: Progress | None = ...,
    ) -> Awaitable[UploadResult]: ...  # fmt: skip


class JobProgress:
    """The pipeline's progress, written to the job's document."""

    def __init__(self, job: UploadJob, store: UploadJobStore, clock: Clock) -> None:
        self.job = job
        self.store = store
        self.clock = clock

    async def update(self, done: int, total: int, text: str) -> None:
        await self.put(done=done, total=total, message=text)

    async def finish(self, text: str) -> None:
        self.job = self.job.model_copy(update={"message": text})

    async def put(self, **change: object) -> None:
        self.job = self.job.model_copy(update={**change, "updated_at": self.clock.now()})
        await self.store.put(self.job)


class UploadJobs:
    def __init__(
        self,
        *,
        ingest: Ingest,
        store: UploadJobStore,
        agents: AgentStore,
        clock: Clock,
        audit: Audit,
        max_bytes: int,
        tasks: BackgroundTasks | None = None,
        ids: IdSource | None = None,
    ) -> None:
        self.ids = ids or RandomIds()
        self.ingest = ingest
        self.store = store
        self.agents = agents
        self.clock = clock
        self.audit = audit
        self.max_bytes = max_bytes
        self.tasks = tasks or BackgroundTasks()

    async def start(
        self, caller: Caller, agent_key: str, filename: str, data: bytes, mime: str | None
    ) -> UploadJob:
        caller.require_admin()
        if len(data) > self.max_bytes:
            raise PayloadTooLargeError(
                f'"{filename}" is {len(data) / 2**20:.1f} MB; files of up to '
                f"{self.max_bytes / 2**20:.0f} MB are taken (PAGEMIND_MAX_UPLOAD_MB)",
                field="file",
            )
        if await self.agents.load(agent_key) is None:
            raise NotFoundError(f"there is no agent {agent_key!r}")
        now = self.clock.now()
        job = UploadJob(
            id=self.ids.new_id(),
            agent_key=agent_key,
            filename=filename,
            status="running",
            created_at=now,
            updated_at=now,
            message=f'Reading "{filename}"…',
        )
        await self.store.put(job)
        await self.audit.record(
            caller,
            "archival.upload",
            agent=agent_key,
            target=job.id,
            summary=f"{filename}, {len(data):,} bytes",
        )
        self.tasks.spawn(self._run(job, data, mime), name=f"upload-job:{job.id}")
        return job

    async def get(self, agent_key: str, job_id: str) -> UploadJob:
        job = await self.store.get(job_id)
        if job is None or job.agent_key != agent_key:
            raise NotFoundError(f"the agent has no upload job {job_id!r}")
        return job

    async def _run(self, job: UploadJob, data: bytes, mime: str | None) -> None:
        progress = JobProgress(job, self.store, self.clock)
        extra = {"agent_key": job.agent_key}
        final: dict[str, object]
        try:
            result = await self.ingest(
                job.agent_key, job.filename, data, mime=mime, progress=progress
            )
            final = {
                "status": result.outcome,
                "passages": result.passages,
                "done": result.passages if result.outcome == "stored" else progress.job.done,
                "message": result.message,
            }
        except asyncio.CancelledError:
            final = {
                "status": "failed",
                "message": f'Stopped before "{job.filename}" was stored (the server is '
                "stopping); nothing of it was kept. Upload it again.",
            }
            await asyncio.shield(progress.put(**final))
            raise
        except Exception:
            log.exception("upload job %s (%s) failed", job.id, job.filename, extra=extra)
            final = {"status": "failed", "message": UPLOAD_FAILED.format(filename=job.filename)}
        await progress.put(**final)

    async def join(self) -> None:
        await self.tasks.join()

    async def aclose(self) -> None:
        await self.tasks.aclose()
