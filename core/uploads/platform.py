"""Uploads from a chat platform: the attachment is downloaded and loaded in the background
while a status message shows how it goes."""

from __future__ import annotations

import logging

from core.errors import StorageError, UploadError
from core.events import Address
from core.inbound.messages import Attachment, IncomingMessage
from core.ports.sources import Clock
from core.ports.uploads import PlatformFiles, UploadIntake
from core.tasks import BackgroundTasks
from core.uploads.pipeline import UploadPipeline, UploadResult

log = logging.getLogger(__name__)


UPLOAD_FAILED = (
    'I couldn\'t store "{filename}": something went wrong on my side. Nothing of it was '
    "kept; please send it again in a moment."
)


class StatusProgress:
    """Progress shown by editing one status message on the platform (at most every few
    seconds, so a long file does not hit the platform's rate limits)."""

    def __init__(
        self, files: PlatformFiles, address: Address, message_id: str, clock: Clock, every: float
    ) -> None:
        self.files = files
        self.address = address
        self.message_id = message_id
        self.clock = clock
        self.every = every
        self._last = clock.now()

    async def update(self, done: int, total: int, text: str) -> None:
        now = self.clock.now()
        if (now - self._last).total_seconds() >= self.every and done < total:
            self._last = now
            await self.files.edit_status(
                self.address, self.message_id, f"{text} ({done * 100 // total}%)"
            )

    async def finish(self, text: str) -> None:
        await self.files.edit_status(self.address, self.message_id, text)


class PlatformUploads:
    """The gateway's ``UploadIntake`` for one platform: an attachment is downloaded and
    loaded in the background while a status message shows how it goes."""

    def __init__(
        self,
        pipeline: UploadPipeline,
        files: PlatformFiles,
        *,
        max_bytes: int,
        progress_every: float = 3.0,
    ) -> None:
        self.pipeline = pipeline
        self.files = files
        self.max_bytes = max_bytes
        self.progress_every = progress_every
        self._tasks = BackgroundTasks()

    async def accept(
        self, message: IncomingMessage, attachment: Attachment, agent_key: str
    ) -> str | None:
        if attachment.size is not None and attachment.size > self.max_bytes:
            return (
                f'"{attachment.filename}" is {attachment.size / 2**20:.1f} MB; I can take files '
                f"of up to {self.max_bytes / 2**20:.0f} MB."
            )
        self._tasks.spawn(
            self._load(message, attachment, agent_key), name=f"upload:{attachment.filename}"
        )
        return None

    async def _load(
        self, message: IncomingMessage, attachment: Attachment, agent_key: str
    ) -> UploadResult | None:
        address = message.address
        status = await self.files.post_status(address, f'Reading "{attachment.filename}"…')
        progress = StatusProgress(
            self.files, address, status, self.pipeline.clock, self.progress_every
        )
        try:
            data = await self.files.download(attachment, self.max_bytes)
        except UploadError as exc:
            await progress.finish(str(exc))
            return None
        try:
            return await self.pipeline.ingest(
                agent_key,
                attachment.filename,
                data,
                mime=attachment.mime,
                reply_to=address,
                progress=progress,
            )
        except Exception as exc:
            # The load was abandoned already: say so, rather than leave "Reading…" standing.
            extra = {"agent_key": agent_key}
            if isinstance(exc, StorageError):
                log.error("upload of %s failed: %s", attachment.filename, exc, extra=extra)
            else:
                log.exception("upload of %s failed", attachment.filename, extra=extra)
            await progress.finish(UPLOAD_FAILED.format(filename=attachment.filename))
            return None

    async def join(self) -> None:
        """Wait for the uploads under way (on shutdown, after intake has stopped)."""
        await self._tasks.join()

    async def aclose(self) -> None:
        """Cancel what is still loading (the pipeline abandons a cancelled load)."""
        await self._tasks.aclose()


class PlatformIntakes:
    """Each platform's ``UploadIntake``, as its adapter is attached; the gateway hands an
    attachment to the intake of the platform it came from."""

    def __init__(self) -> None:
        self._intakes: dict[str, UploadIntake] = {}
        self._loading: list[PlatformUploads] = []

    def attach(
        self, platform: str, pipeline: UploadPipeline, files: PlatformFiles, *, max_bytes: int
    ) -> None:
        """Load the platform's attachments with ``pipeline``, fetched through ``files``."""
        intake = PlatformUploads(pipeline, files, max_bytes=max_bytes)
        self._intakes[platform] = intake
        self._loading.append(intake)

    def register(self, platform: str, intake: UploadIntake) -> None:
        """Hand the platform's attachments to ``intake`` (a test's fake at the port)."""
        self._intakes[platform] = intake

    def get(self, platform: str) -> UploadIntake | None:
        return self._intakes.get(platform)

    async def join(self) -> None:
        """Wait for the uploads under way (on shutdown, after intake has stopped)."""
        for intake in self._loading:
            await intake.join()

    async def aclose(self) -> None:
        """Cancel what is still loading (the pipeline abandons a cancelled load)."""
        for intake in self._loading:
            await intake.aclose()
