"""The upload pipeline as every entry point builds it (chat uploads, the operator API)."""

from __future__ import annotations

from bots.bootstrap import Service
from core.documents import DocumentParser
from core.uploads import UploadPipeline, UploadSettings


def upload_pipeline(svc: Service) -> UploadPipeline:
    return UploadPipeline(
        archival=svc.storage.archival,
        parser=_parser(),
        counter=svc.counter,
        clock=svc.clock,
        notify=svc.dispatcher.submit,
        embedder=svc.embedder,
        settings=UploadSettings(
            max_bytes=int(svc.settings.max_upload_mb * 2**20),
            stale_after=svc.settings.upload_stale_seconds,
        ),
    )


def _parser() -> DocumentParser:
    from adapters.documents import parse_document

    return parse_document
