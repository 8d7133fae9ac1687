"""An agent's archival memory: sources, search with scores, insert, delete, upload."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from adapters.http_api import translate
from adapters.http_api.auth import Admin, Services, Viewer
from core.operator.paging import DEFAULT_LIMIT, MAX_LIMIT
from core.text import valid_text
from pagemind_client import models as wire

router = APIRouter(prefix="/api/agents/{agent_key}/archival", tags=["archival"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]


@router.get("/sources", summary="Uploaded files, then the agent's own passages (viewer)")
async def list_sources(
    agent_key: str, who: Viewer, ops: Services, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> wire.Page[wire.ArchivalSource]:
    return translate.sources(await ops.archival.sources(agent_key, cursor=cursor, limit=limit))


@router.delete(
    "/sources/{document_id}",
    summary='Delete a whole file, or with "own" every passage saved without one (admin)',
)
async def delete_source(
    agent_key: str, document_id: str, who: Admin, ops: Services
) -> wire.Deleted:
    return wire.Deleted(deleted=await ops.archival.delete_source(who, agent_key, document_id))


@router.get("/search", summary="Search by words (and meaning, with embeddings) (viewer)")
async def search(
    agent_key: str,
    who: Viewer,
    ops: Services,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="what to look for")],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    cursor: Cursor = None,
) -> wire.SearchResults:
    return translate.search(await ops.archival.search(agent_key, q, cursor=cursor, limit=limit))


@router.post("/passages", status_code=201, summary="Save text as passages (admin)")
async def insert(
    agent_key: str, body: wire.PassageCreate, who: Admin, ops: Services
) -> wire.PassagesCreated:
    passages = await ops.archival.insert(who, agent_key, body.text)
    return wire.PassagesCreated(items=[translate.passage(p) for p in passages])


@router.delete("/passages/{passage_id}", summary="Delete one passage (admin)")
async def delete_passage(
    agent_key: str, passage_id: str, who: Admin, ops: Services
) -> wire.Deleted:
    return wire.Deleted(deleted=await ops.archival.delete_passage(who, agent_key, passage_id))


@router.post(
    "/uploads",
    status_code=202,
    summary="Upload a file into archival memory (admin); poll the job it returns",
)
async def upload(
    agent_key: str,
    who: Admin,
    ops: Services,
    file: Annotated[UploadFile, File(description="the file (multipart/form-data)")],
) -> wire.UploadJob:
    """The same pipeline and limits as a file sent in a chat (PAGEMIND_MAX_UPLOAD_MB)."""
    data = await file.read()
    name = valid_text(file.filename or "upload")
    job = await ops.uploads.start(who, agent_key, name, data, file.content_type)
    return translate.job(job)


@router.get("/uploads/{job_id}", summary="An upload's progress (viewer)")
async def upload_job(agent_key: str, job_id: str, who: Viewer, ops: Services) -> wire.UploadJob:
    return translate.job(await ops.uploads.get(agent_key, job_id))
