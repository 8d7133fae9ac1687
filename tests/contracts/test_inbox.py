"""Inbox contract: dedupe by event id, arrival order, done is done."""

from __future__ import annotations

from core.events import UserMessageReceived
from tests.contracts.conftest import Stores


def event(i: int, agent: str, clock) -> UserMessageReceived:
    return UserMessageReceived(
        event_id=f"tg:{i}", agent_key=agent, occurred_at=clock.now(), text=f"m{i}"
    )


async def test_put_dedupes_and_pending_keeps_order(stores: Stores) -> None:
    events = [event(i, "a" if i % 2 else "b", stores.clock) for i in range(6)]
    for e in events:
        assert await stores.inbox.put(e)
    assert not await stores.inbox.put(events[2])  # redelivery of the same platform event
    assert [e.event_id for e in await stores.inbox.pending()] == [e.event_id for e in events]
    assert [e.event_id for e in await stores.inbox.pending("a")] == ["tg:1", "tg:3", "tg:5"]
    assert (await stores.inbox.pending("a"))[0] == events[1]
    await stores.inbox.mark_done("tg:1")
    await stores.inbox.mark_done("tg:3", error="LLMUnavailableError: down")
    assert [e.event_id for e in await stores.inbox.pending("a")] == ["tg:5"]
    assert not await stores.inbox.put(events[1]), "a finished event is still recognised"
    assert len(await stores.inbox.pending(limit=2)) == 2


async def test_a_batch_is_recorded_in_order_and_known_events_are_reported(
    stores: Stores,
) -> None:
    known = event(1, "a", stores.clock)
    await stores.inbox.put(known)
    batch = [event(i, "a", stores.clock) for i in (2, 1, 3, 2)]  # 1 known, 2 twice
    assert await stores.inbox.put_many(batch) == [True, False, True, False]
    assert [e.event_id for e in await stores.inbox.pending("a")] == ["tg:1", "tg:2", "tg:3"]
    assert await stores.inbox.put_many([]) == []


async def test_erase_forgets_one_agent(stores: Stores) -> None:
    await stores.inbox.put(event(1, "a", stores.clock))
    await stores.inbox.put(event(2, "b", stores.clock))
    await stores.inbox.erase("a")
    assert [e.event_id for e in await stores.inbox.pending()] == ["tg:2"]


async def test_finished_events_are_purged_after_the_retention(stores: Stores) -> None:
    from datetime import timedelta

    await stores.inbox.put(event(1, "a", stores.clock))
    await stores.inbox.put(event(2, "a", stores.clock))
    await stores.inbox.mark_done("tg:1")
    assert await stores.inbox.purge(timedelta(days=1)) == 0, "finished just now: kept"
    assert await stores.inbox.purge(timedelta(seconds=-60)) == 1, "past the retention: gone"
    assert not await stores.inbox.put(event(2, "a", stores.clock)), "pending ones are kept"
    assert await stores.inbox.put(event(1, "a", stores.clock)), "a purged id is new again"


async def test_pending_means_recorded_and_not_done(stores: Stores) -> None:
    e = event(7, "a", stores.clock)
    assert not await stores.inbox.is_pending(e.event_id), "unknown"
    await stores.inbox.put(e)
    assert await stores.inbox.is_pending(e.event_id)
    await stores.inbox.mark_done(e.event_id)
    assert not await stores.inbox.is_pending(e.event_id)


async def test_a_failed_event_is_kept_with_its_reason_until_erased(stores: Stores) -> None:
    from datetime import timedelta

    for i in (1, 2, 3):
        await stores.inbox.put(event(i, "a", stores.clock))
    await stores.inbox.put(event(4, "b", stores.clock))
    await stores.inbox.mark_done("tg:1")
    await stores.inbox.mark_done("tg:2", error="StorageUnavailableError: down")
    await stores.inbox.mark_done("tg:4", error="RuntimeError: boom")
    (failed,) = await stores.inbox.failed("a")
    assert failed.event.event_id == "tg:2" and failed.event.text == "m2"  # type: ignore[union-attr]
    assert failed.error == "StorageUnavailableError: down"
    assert await stores.inbox.purge(timedelta(seconds=-60)) == 1, "only the one that succeeded"
    assert [f.event.event_id for f in await stores.inbox.failed("a")] == ["tg:2"]
    await stores.inbox.erase("a")
    assert await stores.inbox.failed("a") == []
    assert [f.event.event_id for f in await stores.inbox.failed("b")] == ["tg:4"]
