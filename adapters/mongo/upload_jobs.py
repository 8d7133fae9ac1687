"""Operator upload jobs in MongoDB: one document per job, replaced whole as it progresses,
so a poll reaching any replica sees how far the load got."""

from __future__ import annotations

from adapters.mongo.connection import MongoConnection, translated
from core.operator.records import UploadJob
from core.records import SCHEMA_VERSION

UPLOAD_JOBS = "upload_jobs"


class MongoUploadJobStore:
    def __init__(self, connection: MongoConnection) -> None:
        self._uri = connection.uri
        self._jobs = connection.db[UPLOAD_JOBS]

    async def put(self, job: UploadJob) -> None:
        doc = {
            "_id": job.id,
            "v": SCHEMA_VERSION,
            "agent": job.agent_key,
            "job": job.model_dump(mode="json"),
        }
        with translated(self._uri):
            await self._jobs.replace_one({"_id": job.id}, doc, upsert=True)

    async def get(self, job_id: str) -> UploadJob | None:
        with translated(self._uri):
            doc = await self._jobs.find_one({"_id": job_id})
        return UploadJob.model_validate(doc["job"]) if doc else None

    async def for_agent(self, agent_key: str) -> list[UploadJob]:
        with translated(self._uri):
            found = [
                UploadJob.model_validate(d["job"])
                async for d in self._jobs.find({"agent": agent_key})
            ]
        return sorted(found, key=lambda j: (j.created_at, j.id))

    async def erase(self, agent_key: str) -> int:
        with translated(self._uri):
            result = await self._jobs.delete_many({"agent": agent_key})
        return result.deleted_count
