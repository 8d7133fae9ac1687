"""Check-ins: times in the user's zone (DST included), quiet hours, claims that exactly one
worker wins, a long outage firing once. On every backend, with a controllable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from adapters.scheduling.triggers import ApschedulerTriggers
from core.checkins.service import CheckinService
from core.checkins.values import CheckinPolicy, QuietHours, Schedule
from core.checkins.when import parse_when
from core.errors import ToolError
from core.events import TimerFired
from tests.contracts.conftest import Stores

AGENT = "telegram:user:9"
BERLIN = "Europe/Berlin"


def service(stores: Stores, events: list, owner: str = "w1", **policy) -> CheckinService:
    async def submit(batch) -> None:
        events.extend(batch)

    return CheckinService(
        store=stores.checkins,
        triggers=ApschedulerTriggers(),
        clock=stores.clock,
        submit=submit,
        owner=owner,
        policy=CheckinPolicy(**policy),
    )


def at(stores: Stores, *args: int, tz: str = BERLIN) -> None:
    stores.clock.current = datetime(*args, tzinfo=ZoneInfo(tz)).astimezone(UTC)


async def test_a_daily_check_in_stays_at_nine_local_across_dst(stores: Stores) -> None:
    events: list = []
    svc = service(stores, events)
    at(stores, 2026, 3, 27, 12, 0)
    cron = await svc.schedule(
        AGENT,
        "morning check-in",
        Schedule(kind="cron", cron="0 9 * * *"),
        timezone=BERLIN,
        created_by="operator",
    )
    daily = await svc.schedule(
        AGENT,
        "daily",
        parse_when(
            at=None,
            every="1d",
            cron=None,
            timezone=BERLIN,
            now=datetime(2026, 3, 27, 9, 0, tzinfo=ZoneInfo(BERLIN)),
        ),
        timezone=BERLIN,
        created_by="user",
    )
    assert cron.next_due == datetime(2026, 3, 28, 9, 0, tzinfo=ZoneInfo(BERLIN))
    local_times = []
    for day in (28, 29, 30):  # DST starts on the 29th
        at(stores, 2026, 3, day, 9, 0, 30)
        assert await svc.fire_due() == 2
        for checkin in await svc.active(AGENT):
            local_times.append(checkin.next_due.astimezone(ZoneInfo(BERLIN)).strftime("%d %H:%M"))
    assert local_times == ["29 09:00", "29 09:00", "30 09:00", "30 09:00", "31 09:00", "31 09:00"]
    assert len(events) == 6 and all(isinstance(e, TimerFired) for e in events)
    assert daily.id != cron.id


async def test_a_one_off_in_the_users_zone_fires_once_then_is_done(stores: Stores) -> None:
    events: list = []
    svc = service(stores, events)
    at(stores, 2026, 11, 21, 10, 0, tz="America/New_York")
    checkin = await svc.schedule(
        AGENT,
        "ask how the interview went",
        parse_when(
            at="2026-11-22 18:30",
            every=None,
            cron=None,
            timezone="America/New_York",
            now=stores.clock.now(),
        ),
        timezone="America/New_York",
        created_by="agent",
    )
    assert checkin.next_due.astimezone(UTC) == datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    at(stores, 2026, 11, 22, 18, 29, tz="America/New_York")
    assert await svc.fire_due() == 0, "not yet"
    at(stores, 2026, 11, 22, 18, 31, tz="America/New_York")
    assert await svc.fire_due() == 1
    assert events[0].note == "ask how the interview went" and events[0].checkin_id == checkin.id
    assert await svc.active(AGENT) == [], "a one-off is done after it fired"
    assert await svc.fire_due() == 0


async def test_quiet_hours_defer_to_their_end(stores: Stores) -> None:
    events: list = []
    svc = service(stores, events, quiet_hours=QuietHours.parse("22:00-08:00"))
    at(stores, 2026, 11, 21, 12, 0)
    hourly = await svc.schedule(
        AGENT, "hourly", Schedule(kind="cron", cron="0 * * * *"), timezone=BERLIN, created_by="user"
    )
    assert hourly.next_due == datetime(2026, 11, 21, 13, 0, tzinfo=ZoneInfo(BERLIN))
    at(stores, 2026, 11, 21, 21, 0, 5)
    await svc.fire_due()
    (checkin,) = await svc.active(AGENT)
    assert checkin.next_due == datetime(2026, 11, 22, 8, 0, tzinfo=ZoneInfo(BERLIN)), (
        "22:00 waits for 08:00"
    )
    at(stores, 2026, 11, 22, 8, 0, 5)
    assert await svc.fire_due() == 1
    (checkin,) = await svc.active(AGENT)
    assert checkin.next_due == datetime(2026, 11, 22, 9, 0, tzinfo=ZoneInfo(BERLIN)), (
        "one per quiet night"
    )


async def test_exactly_one_worker_wins_a_claim_and_an_expired_claim_is_taken_over(
    stores: Stores,
) -> None:
    at(stores, 2026, 11, 21, 12, 0)
    await service(stores, []).schedule(
        AGENT, "ping", Schedule(kind="cron", cron="*/5 * * * *"), timezone=BERLIN, created_by="user"
    )
    at(stores, 2026, 11, 21, 12, 5, 1)
    first = await stores.checkins.claim_due(stores.clock.now(), "w1", timedelta(seconds=30), 10)
    second = await stores.checkins.claim_due(stores.clock.now(), "w2", timedelta(seconds=30), 10)
    assert len(first) == 1 and second == []
    stores.clock.advance(seconds=31)  # w1 died holding the claim
    taken = await stores.checkins.claim_due(stores.clock.now(), "w2", timedelta(seconds=30), 10)
    assert len(taken) == 1
    from core.checkins.values import Settlement

    later = datetime(2026, 11, 21, 12, 10, tzinfo=ZoneInfo(BERLIN))
    await stores.checkins.settle(
        [Settlement(first[0].checkin.id, first[0].token, later, stores.clock.now())]
    )
    (checkin,) = await stores.checkins.active(AGENT)
    assert checkin.fired == 0, "a stale claim's write-back is ignored"
    await stores.checkins.settle(
        [Settlement(taken[0].checkin.id, taken[0].token, later, stores.clock.now())]
    )
    (checkin,) = await stores.checkins.active(AGENT)
    assert checkin.fired == 1 and checkin.next_due == later


async def test_the_same_occurrence_always_has_the_same_event_id(stores: Stores) -> None:
    events_a: list = []
    events_b: list = []
    at(stores, 2026, 11, 21, 12, 0)
    await service(stores, []).schedule(
        AGENT, "ping", Schedule(kind="cron", cron="30 12 * * *"), timezone=BERLIN, created_by="user"
    )
    at(stores, 2026, 11, 21, 12, 31)
    claims = await stores.checkins.claim_due(
        stores.clock.now(), "crashed", timedelta(seconds=5), 10
    )
    assert claims
    events_a.append(f"checkin:{claims[0].checkin.id}:{int(claims[0].checkin.next_due.timestamp())}")
    stores.clock.advance(seconds=10)  # the crashed worker never settled
    await service(stores, events_b, owner="w2").fire_due()
    assert [e.event_id for e in events_b] == events_a, "the inbox will drop a second copy"


async def test_a_long_outage_fires_once_or_not_at_all(stores: Stores) -> None:
    events: list = []
    svc = service(stores, events, grace=timedelta(hours=1))
    at(stores, 2026, 11, 1, 8, 0)
    await svc.schedule(
        AGENT,
        "every 10 min",
        Schedule(kind="cron", cron="*/10 * * * *"),
        timezone=BERLIN,
        created_by="user",
    )
    at(stores, 2026, 11, 1, 8, 45)  # down since 08:00: four periods missed
    assert await svc.fire_due() == 1, "one fire, not one per missed period"
    (checkin,) = await svc.active(AGENT)
    assert checkin.next_due == datetime(2026, 11, 1, 8, 50, tzinfo=ZoneInfo(BERLIN))
    at(stores, 2026, 11, 3, 8, 0)  # down for two days: older than the grace period
    assert await svc.fire_due() == 0, "dropped"
    (checkin,) = await svc.active(AGENT)
    assert checkin.next_due == datetime(2026, 11, 3, 8, 10, tzinfo=ZoneInfo(BERLIN)), (
        "resumes from now"
    )


async def test_cancel_list_and_bad_input(stores: Stores) -> None:
    svc = service(stores, [])
    at(stores, 2026, 11, 21, 12, 0)
    a = await svc.schedule(
        AGENT, "a", Schedule(kind="cron", cron="0 18 * * *"), timezone=BERLIN, created_by="user"
    )
    b = await svc.schedule(
        AGENT, "b", Schedule(kind="cron", cron="0 13 * * *"), timezone=BERLIN, created_by="user"
    )
    assert [c.id for c in await svc.active(AGENT)] == [b.id, a.id], "soonest first"
    assert await svc.cancel(AGENT, a.id) and not await svc.cancel(AGENT, a.id)
    assert not await svc.cancel("telegram:user:other", b.id), "only the owner's agent"
    assert [c.id for c in await svc.active(AGENT)] == [b.id]
    with pytest.raises(ToolError, match="not a cron schedule"):
        await svc.schedule(
            AGENT,
            "x",
            Schedule(kind="cron", cron="every monday"),
            timezone=BERLIN,
            created_by="agent",
        )
    with pytest.raises(ToolError, match="already passed"):
        await svc.schedule(
            AGENT,
            "x",
            parse_when(
                at="2020-01-01 10:00",
                every=None,
                cron=None,
                timezone=BERLIN,
                now=stores.clock.now(),
            ),
            timezone=BERLIN,
            created_by="agent",
        )
    with pytest.raises(ToolError, match="exactly one"):
        parse_when(
            at="2026-12-01 10:00", every="1d", cron=None, timezone=BERLIN, now=stores.clock.now()
        )
    with pytest.raises(ToolError, match="unknown time zone"):
        await svc.schedule(
            AGENT,
            "x",
            Schedule(kind="cron", cron="0 9 * * *"),
            timezone="Mars/Olympus",
            created_by="user",
        )
    await stores.checkins.erase(AGENT)
    assert await svc.active(AGENT) == []


async def test_a_drawn_id_taken_by_another_agent_is_never_overwritten(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid as uuid_module

    draws = iter(["aaaaaa", "aaaaaa", "bbbbbb"])  # the second agent first draws a taken id

    class FakeUUID:
        def __init__(self) -> None:
            self.hex = next(draws) + "0" * 26

    monkeypatch.setattr(uuid_module, "uuid4", FakeUUID)
    svc = service(stores, [])
    at(stores, 2026, 11, 21, 12, 0)
    daily = Schedule(kind="cron", cron="0 18 * * *")
    mine = await svc.schedule(AGENT, "mine", daily, timezone=BERLIN, created_by="user")
    other = await svc.schedule(
        "telegram:user:8", "theirs", daily, timezone=BERLIN, created_by="user"
    )
    assert (mine.id, other.id) == ("aaaaaa", "bbbbbb")
    assert [c.note for c in await svc.active(AGENT)] == ["mine"]
    assert [c.note for c in await svc.active("telegram:user:8")] == ["theirs"]


async def test_cron_weekdays_count_from_sunday_as_in_crontab(stores: Stores) -> None:
    svc = service(stores, [])
    at(stores, 2026, 11, 21, 12, 0)  # a Saturday
    weekdays = await svc.schedule(
        AGENT, "standup", Schedule(kind="cron", cron="0 9 * * 1-5"), timezone=BERLIN,
        created_by="user",
    )  # fmt: skip
    assert weekdays.next_due == datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo(BERLIN)), "Monday"
    sunday = await svc.schedule(
        AGENT, "week ahead", Schedule(kind="cron", cron="0 18 * * 0"), timezone=BERLIN,
        created_by="user",
    )  # fmt: skip
    assert sunday.next_due == datetime(2026, 11, 22, 18, 0, tzinfo=ZoneInfo(BERLIN))
    also_sunday = await svc.schedule(
        AGENT, "also", Schedule(kind="cron", cron="0 18 * * 7"), timezone=BERLIN,
        created_by="user",
    )  # fmt: skip
    assert also_sunday.next_due == sunday.next_due
    named = await svc.schedule(
        AGENT, "named", Schedule(kind="cron", cron="0 9 * * mon-fri"), timezone=BERLIN,
        created_by="user",
    )  # fmt: skip
    assert named.next_due == weekdays.next_due
    every_other = await svc.schedule(
        AGENT, "odd", Schedule(kind="cron", cron="0 9 * * */2"), timezone=BERLIN,
        created_by="user",
    )  # fmt: skip
    assert every_other.next_due == datetime(2026, 11, 21, 9, 0, tzinfo=ZoneInfo(BERLIN)) + (
        timedelta(days=1)
    ), "Sun, Tue, Thu, Sat: next is Sunday 09:00"
    with pytest.raises(ToolError, match="not a cron schedule"):
        await svc.schedule(
            AGENT, "x", Schedule(kind="cron", cron="0 9 * * 8"), timezone=BERLIN,
            created_by="user",
        )  # fmt: skip


async def test_a_check_in_settled_by_another_worker_after_listing_is_not_claimed_again(
    stores: Stores,
) -> None:
    """The race two busy workers hit: w2 lists a due check-in, w1 claims, fires and
    settles it, then w2 tries to claim what it listed."""
    if stores.connection is None:
        pytest.skip("the in-memory store claims in one step: no listing to go stale")
    from adapters.mongo.checkins import MongoCheckinStore
    from core.checkins.values import Settlement

    at(stores, 2026, 11, 21, 12, 0)
    svc = service(stores, [])
    once = parse_when(
        at="2026-11-21 12:05", every=None, cron=None, timezone=BERLIN, now=stores.clock.now()
    )
    checkin = await svc.schedule(AGENT, "once", once, timezone=BERLIN, created_by="user")
    at(stores, 2026, 11, 21, 12, 6)
    now = stores.clock.now()

    class ListedEarlier(MongoCheckinStore):
        async def _due_ids(self, stamp: float, limit: int) -> list[str]:
            return [checkin.id]  # what w2 saw before w1 settled

    (claim,) = await stores.checkins.claim_due(now, "w1", timedelta(seconds=30), 10)
    await stores.checkins.settle([Settlement(checkin.id, claim.token, None, now)])
    late = ListedEarlier(stores.connection)
    assert await late.claim_due(now, "w2", timedelta(seconds=30), 10) == []


async def test_next_due_is_the_earliest_check_in_nobody_holds(stores: Stores) -> None:
    at(stores, 2026, 11, 21, 12, 0)
    assert await stores.checkins.next_due(stores.clock.now()) is None
    svc = service(stores, [])
    soon = datetime(2026, 11, 21, 12, 5, tzinfo=ZoneInfo(BERLIN))
    later = datetime(2026, 11, 21, 13, 0, tzinfo=ZoneInfo(BERLIN))
    await svc.schedule(
        AGENT, "later", Schedule(kind="once", at=later), timezone=BERLIN, created_by="user"
    )
    await svc.schedule(
        AGENT, "soon", Schedule(kind="once", at=soon), timezone=BERLIN, created_by="user"
    )
    assert await stores.checkins.next_due(stores.clock.now()) == soon
    at(stores, 2026, 11, 21, 12, 6)
    assert await stores.checkins.next_due(stores.clock.now()) == soon, "due and not claimed"
    (_claim,) = await stores.checkins.claim_due(stores.clock.now(), "w1", timedelta(seconds=30), 10)
    assert await stores.checkins.next_due(stores.clock.now()) == later, "a held claim is not"
    stores.clock.advance(seconds=31)
    assert await stores.checkins.next_due(stores.clock.now()) == soon, "a claim that ran out is"
