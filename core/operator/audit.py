"""The audit log: every operator write, who made it and when, readable by admins."""

from __future__ import annotations

from core.ids import RandomIds
from core.operator.keys import Caller
from core.operator.paging import Listing, check_limit, decode, encode
from core.operator.ports import AuditLog
from core.operator.records import AuditEntry
from core.ports import Clock, IdSource

SUMMARY_CHARS = 200  # a summary is a hint ("inserted 3 passages"), never a message body
KIND = "audit"


class Audit:
    def __init__(self, log: AuditLog, clock: Clock, ids: IdSource | None = None) -> None:
        self.ids = ids or RandomIds()
        self.log = log
        self.clock = clock

    async def record(
        self,
        caller: Caller,
        action: str,
        *,
        agent: str | None = None,
        target: str | None = None,
        summary: str = "",
    ) -> AuditEntry:
        at = self.clock.now()
        short = " ".join(summary.split())
        entry = AuditEntry(
            # microseconds since the epoch, zero-padded: ids sort as times do
            id=f"{int(at.timestamp() * 1_000_000):017d}-{self.ids.new_id()[:8]}",
            at=at,
            key_id=caller.key_id,
            key_name=caller.name,
            action=action,
            agent=agent,
            target=target,
            summary=short if len(short) <= SUMMARY_CHARS else short[: SUMMARY_CHARS - 1] + "…",
        )
        await self.log.append(entry)
        return entry

    async def page(
        self, *, cursor: str | None, limit: int, agent: str | None = None
    ) -> Listing[AuditEntry]:
        """Newest first."""
        after = decode(KIND, cursor)
        check_limit(limit)
        before = str(after[0]) if after else None
        found = await self.log.page(before=before, limit=limit + 1, agent=agent)
        shown = tuple(found[:limit])
        more = len(found) > limit
        return Listing(shown, encode(KIND, (shown[-1].id,)) if more and shown else None)
