"""Check-ins in MongoDB: one document each, claimed in batches by the workers.

Times that change (``next_due``, the claim's expiry) are epoch seconds: some servers keep a
date written by ``$set`` as a string. A batch is claimed in two steps: one query lists the
due, unclaimed check-ins; then each is claimed by its own ``find_one_and_update`` with the
condition "not claimed, or claim expired", all sent at once, so exactly one worker wins a
document and a batch costs about two round trips of waiting, not one per check-in. (A single
``update_many`` is atomic per document on MongoDB but not under concurrent clients on
nx-27017, and ``$or`` must not appear: nx-27017 drops other conditions of such a filter.)
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from adapters.mongo.connection import MongoConnection, translated
from core.checkins.values import Checkin, Claim, Settlement
from core.records import SCHEMA_VERSION

CHECKINS = "checkins"
_IN_FLIGHT = 50  # claims sent at once (well inside PyMongo's default pool of 100)
_LIVE = ("next_due", "last_fired", "fired", "skipped", "tokens")


def _to_doc(checkin: Checkin) -> dict[str, Any]:
    return {
        "_id": checkin.id,
        "v": SCHEMA_VERSION,
        "agent": checkin.agent_key,
        "checkin": checkin.model_dump(mode="json", exclude=set(_LIVE)),
        "next_due": checkin.next_due.timestamp() if checkin.next_due else None,
        "last_fired": checkin.last_fired.timestamp() if checkin.last_fired else None,
        "fired": checkin.fired,
        "skipped": checkin.skipped,
        "tokens": checkin.tokens,
        "claim": None,
        "claim_until": 0.0,
    }


def _from_doc(doc: dict[str, Any]) -> Checkin:
    def moment(value: float | None) -> datetime | None:
        return datetime.fromtimestamp(value, UTC) if value is not None else None

    return Checkin.model_validate(
        {
            **doc["checkin"],
            "next_due": moment(doc.get("next_due")),
            "last_fired": moment(doc.get("last_fired")),
            "fired": doc.get("fired", 0),
            "skipped": doc.get("skipped", 0),
            "tokens": doc.get("tokens", 0),
        }
    )


class MongoCheckinStore:
    def __init__(self, connection: MongoConnection) -> None:
        self._uri = connection.uri
        self._checkins = connection.db[CHECKINS]

    async def add(self, checkin: Checkin) -> bool:
        with translated(self._uri):
            try:
                await self._checkins.insert_one(_to_doc(checkin))
            except DuplicateKeyError:
                return False
        return True

    async def active(self, agent_key: str) -> list[Checkin]:
        with translated(self._uri):
            cursor = self._checkins.find({"agent": agent_key, "next_due": {"$ne": None}})
            found = [_from_doc(d) async for d in cursor]
        return sorted(found, key=lambda c: c.next_due or c.created_at)

    async def cancel(self, agent_key: str, checkin_id: str) -> bool:
        with translated(self._uri):
            result = await self._checkins.update_one(
                {"_id": checkin_id, "agent": agent_key, "next_due": {"$ne": None}},
                {"$set": {"next_due": None}},
            )
        return result.modified_count == 1

    async def claim_due(
        self, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> list[Claim]:
        stamp = now.timestamp()
        token = f"{owner}:{uuid.uuid4().hex[:12]}"
        claim = {"$set": {"claim": token, "claim_until": (now + lease).timestamp()}}
        # Due and unclaimed, checked again per document: between the listing and the claim
        # another worker may have claimed, fired and settled it (a one-off then has no
        # next_due, a repeating one a later one), and it must not be taken a second time.
        still_due = {"next_due": {"$lte": stamp}, "claim_until": {"$lt": stamp}}

        async def take(checkin_id: str) -> dict[str, Any] | None:
            return await self._checkins.find_one_and_update(
                {"_id": checkin_id, **still_due},
                claim,
                return_document=ReturnDocument.AFTER,
            )

        with translated(self._uri):
            ids = await self._due_ids(stamp, limit)
            won: list[dict[str, Any]] = []
            for start in range(0, len(ids), _IN_FLIGHT):
                taken = await asyncio.gather(*map(take, ids[start : start + _IN_FLIGHT]))
                won.extend(doc for doc in taken if doc is not None)
        won.sort(key=lambda d: d["next_due"])
        return [Claim(_from_doc(doc), token) for doc in won]

    async def _due_ids(self, stamp: float, limit: int) -> list[str]:
        due = self._checkins.find(
            {"next_due": {"$lte": stamp}, "claim_until": {"$lt": stamp}}, {"_id": 1}
        )
        return [d["_id"] async for d in due.sort("next_due", ASCENDING).limit(limit)]

    async def settle(self, settlements: Sequence[Settlement]) -> None:
        if not settlements:
            return
        writes = []
        for s in settlements:
            change: dict[str, Any] = {
                "$set": {
                    "next_due": s.next_due.timestamp() if s.next_due else None,
                    "claim": None,
                    "claim_until": 0.0,
                }
            }
            if s.fired_at is not None:
                change["$set"]["last_fired"] = s.fired_at.timestamp()
                change["$inc"] = {"fired": 1}
            writes.append(UpdateOne({"_id": s.checkin_id, "claim": s.token}, change))
        with translated(self._uri):
            await self._checkins.bulk_write(writes, ordered=False)

    async def next_due(self, now: datetime) -> datetime | None:
        with translated(self._uri):
            found = await self._checkins.find_one(
                {"next_due": {"$ne": None}, "claim_until": {"$lt": now.timestamp()}},
                {"next_due": 1},
                sort=[("next_due", ASCENDING)],
            )
        if found is None or found.get("next_due") is None:
            return None
        return datetime.fromtimestamp(float(found["next_due"]), UTC)

    async def record_tokens(self, checkin_id: str, tokens: int, skipped: bool) -> None:
        with translated(self._uri):
            await self._checkins.update_one(
                {"_id": checkin_id}, {"$inc": {"tokens": tokens, "skipped": int(skipped)}}
            )

    async def erase(self, agent_key: str) -> None:
        with translated(self._uri):
            await self._checkins.delete_many({"agent": agent_key})
