"""Ids minted in the core come from the id source it is given, so a test can know them."""

from __future__ import annotations

from datetime import UTC, datetime

from bots.storage import memory_storage
from core.operator.audit import Audit
from core.operator.keys import Caller
from tests.support.agents import ManualClock


class CountingIds:
    def __init__(self) -> None:
        self.drawn = 0

    def new_id(self) -> str:
        self.drawn += 1
        return f"{self.drawn:08x}" + "0" * 24


async def test_audit_entries_take_their_ids_from_the_given_source() -> None:
    clock = ManualClock(datetime(2026, 11, 21, 9, 0, tzinfo=UTC))
    audit = Audit(memory_storage().audit, clock, ids=CountingIds())
    admin = Caller(key_id="k1", name="ops", role="admin")
    first = await audit.record(admin, "budget.set", agent="telegram:user:1")
    second = await audit.record(admin, "budget.set", agent="telegram:user:1")
    at = f"{int(clock.now().timestamp() * 1_000_000):017d}"
    assert (first.id, second.id) == (f"{at}-00000001", f"{at}-00000002")
