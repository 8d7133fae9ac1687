"""The operator API's first resources, driven with ``pagemind_client`` against a live
server built by the composition root, on in-memory storage and on nx-27017."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from pagemind_client import (
    AsyncPagemind,
    ChangeQueuedError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from tests.support.api import LiveApi, live_api
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply


@pytest.fixture
async def live(llm_default: ScriptedOpenAIServer, storage: str) -> AsyncIterator[LiveApi]:
    async with live_api(llm_default, storage) as api:
        yield api


async def collect(items: AsyncIterator) -> list:  # type: ignore[type-arg]
    return [item async for item in items]


# --------------------------------------------------------------------------- agents


async def test_agents_are_listed_and_filtered(live: LiveApi) -> None:
    await live.seed("telegram:user:1", ("human", "Ana"))
    await live.seed("telegram:user:2", ("human", "Bo"))
    await live.seed("slack:user:T1:U7", ("human", "Cy"))
    await live.seed("slack:channel:T1:C1", ("persona", "p"), ("human:T1:U7", "Cy likes tea"))
    await live.seed("discord:channel:G1:C9", ("persona", "p"), ("human:55", "someone else"))
    old = datetime.now(UTC) - timedelta(days=10)
    await live.seed("telegram:user:3", ("human", "Di"), created_at=old, updated_at=old)
    async with live.client(live.viewer_key) as pm:
        every = [a.key for a in await collect(pm.agents.list())]
        assert every == sorted(every) and len(every) == 6
        telegram = [a.key for a in await collect(pm.agents.list(platform="telegram"))]
        assert telegram == ["telegram:user:1", "telegram:user:2", "telegram:user:3"]
        groups = [a.key for a in await collect(pm.agents.list(scope="channel"))]
        assert groups == ["discord:channel:G1:C9", "slack:channel:T1:C1"]
        person = [a.key for a in await collect(pm.agents.list(person="T1:U7"))]
        assert person == ["slack:channel:T1:C1", "slack:user:T1:U7"]
        since = datetime.now(UTC) - timedelta(days=1)
        recent = [a.key for a in await collect(pm.agents.list(active_since=since))]
        assert "telegram:user:3" not in recent and len(recent) == 5
        stale = await collect(pm.agents.list(active_before=since))
        assert [a.key for a in stale] == ["telegram:user:3"]
        assert stale[0].platform == "telegram" and stale[0].scope == "user"


async def test_agent_pages_never_overlap_or_skip_under_concurrent_inserts(live: LiveApi) -> None:
    original = [f"telegram:user:{n:03d}" for n in range(0, 30, 3)]  # 000, 003, ... 027
    for key in original:
        await live.seed(key, ("human", key))
    seen: list[str] = []
    async with live.client() as pm:
        page = await pm.agents.page(limit=3)
        seen += [a.key for a in page.items]
        n = 0
        while page.next_cursor is not None:
            # between two page reads: agents appear before and after the cursor
            n += 1
            await live.seed(f"telegram:user:{3 * n + 1:03d}", ("human", "new"))  # behind
            await live.seed(f"telegram:user:{90 + n:03d}", ("human", "new"))  # ahead
            page = await pm.agents.page(limit=3, cursor=page.next_cursor)
            seen += [a.key for a in page.items]
    assert len(seen) == len(set(seen)), "no agent listed twice"
    assert [k for k in seen if k in original] == original, "none of the first ones skipped"


async def test_one_agent_shows_its_memory_counts_and_tokens(live: LiveApi) -> None:
    key = "telegram:user:42"
    await live.talk(key, "hello there")
    await live.svc.storage.archival.insert(key, [])
    async with live.client(live.viewer_key) as pm:
        await live.talk(key, "and again")
        agent = await pm.agents.get(key)
    state = await live.svc.storage.agents.load(key)
    assert state is not None
    assert agent.key == key and agent.platform == "telegram" and agent.scope == "user"
    assert [b.label for b in agent.blocks] == ["persona", "human"]
    assert agent.blocks[1].value == state.memory.block("human").value
    assert agent.blocks[1].limit == state.memory.block("human").limit
    assert agent.messages == state.last_seq == 6  # 2 x (message, call, result)
    assert agent.passages == 0
    assert agent.tokens_today == agent.tokens_total == state.usage_total.total_tokens > 0
    assert agent.calls_total == 2 and agent.created_at == state.created_at


# --------------------------------------------------------------------------- usage, budget


async def test_usage_per_day_with_cost_at_the_configured_price(
    llm_default: ScriptedOpenAIServer,
) -> None:
    prices = {"scripted": {"prompt": 2.0, "cached_prompt": 1.0, "completion": 10.0}}
    async with live_api(llm_default, prices=prices) as live:
        key = "telegram:user:42"
        await live.talk(key, "hello")
        await live.talk(key, "hello again")
        async with live.client(live.viewer_key) as pm:
            usage = await pm.agents.usage(key)
        (day,) = usage.days
        assert day.day == datetime.now(UTC).date().isoformat() and day.calls == 2
        sent = [len(__import__("json").dumps(b)) // 4 for _, b in llm_default.requests]
        assert day.prompt_tokens == sum(sent) and day.completion_tokens == 24
        assert day.cost == pytest.approx((day.prompt_tokens * 2.0 + 24 * 10.0) / 1e6)
        assert usage.model == "scripted" and usage.daily_token_budget is None


async def test_a_budget_set_here_goes_through_the_inbox_and_stops_the_model(
    live: LiveApi, llm_default: ScriptedOpenAIServer
) -> None:
    key = "telegram:user:42"
    await live.talk(key, "hello")
    asked = len(llm_default.requests)
    async with live.client() as pm:
        usage = await pm.agents.set_budget(key, 10)
        assert usage.daily_token_budget == 10 and usage.budget_override == 10
        await live.talk(key, "are you there?")
        assert len(llm_default.requests) == asked, "over its own budget: no model call"
        assert "conversation limit" in live.replies.sent[-1].text
        cleared = await pm.agents.set_budget(key, None)
        assert cleared.budget_override is None and cleared.daily_token_budget is None
        audit = await collect(pm.audit.list(agent=key))
    assert [e.action for e in audit] == ["agents.set_daily_budget"] * 2
    assert audit[0].key_name == "alice (admin)"
    # it was an event of the agent's, processed in order and marked done like any other
    assert not await live.svc.storage.inbox.pending(key)


async def test_a_budget_change_waits_for_the_turn_under_way_and_loses_nothing(
    storage: str,
) -> None:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow(body: dict) -> dict:
        arrived.set()
        await release.wait()
        return tool_reply("send_message", {"message": "done thinking"})

    async with ScriptedOpenAIServer() as llm, live_api(llm, storage) as live:
        key = "telegram:user:42"
        llm.add(tool_reply("send_message", {"message": "hi"}), slow)
        await live.talk(key, "first")
        turn = asyncio.create_task(live.talk(key, "a slow one"))
        await asyncio.wait_for(arrived.wait(), 30)
        async with live.client() as pm:
            change = asyncio.create_task(pm.agents.set_budget(key, 123_456))
            release.set()
            await turn
            usage = await asyncio.wait_for(change, 30)
        state = await live.svc.storage.agents.load(key)
    assert usage.budget_override == 123_456
    assert state is not None and state.daily_token_budget == 123_456
    assert state.last_seq == 6 and live.replies.sent[-1].text == "done thinking"


async def test_a_change_not_applied_in_time_is_202_queued_then_applied(storage: str) -> None:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow(body: dict) -> dict:
        arrived.set()
        await release.wait()
        return tool_reply("send_message", {"message": "done"})

    async with (
        ScriptedOpenAIServer() as llm,
        live_api(llm, storage, api_write_wait_seconds=0.3) as live,
    ):
        key = "telegram:user:42"
        llm.add(tool_reply("send_message", {"message": "hi"}), slow)
        await live.talk(key, "first")
        turn = asyncio.create_task(live.talk(key, "slow"))
        await asyncio.wait_for(arrived.wait(), 30)
        async with live.client() as pm:
            with pytest.raises(ChangeQueuedError) as queued:
                await pm.agents.set_budget(key, 777)
            assert queued.value.status == 202 and queued.value.event_id
            release.set()
            await turn
            for _ in range(200):  # applied once the turn is done: wait for it
                if (await pm.agents.usage(key)).budget_override == 777:
                    break
                await asyncio.sleep(0.05)
            assert (await pm.agents.usage(key)).budget_override == 777


# --------------------------------------------------------------------------- check-ins


async def test_checkins_are_listed_created_and_cancelled(live: LiveApi) -> None:
    key = "telegram:user:42"
    async with live.client() as pm:
        await live.seed("telegram:user:7", ("human", "nobody wrote yet"))
        with pytest.raises(ConflictError, match="no conversation"):
            await pm.checkins.create("telegram:user:7", "hello", every="1d")
        await live.talk(key, "hi")
        daily = await pm.checkins.create(key, "  say   good morning ", cron="0 9 * * *")
        weekly = await pm.checkins.create(key, "weekly review", every="1w")
        assert daily.note == "say good morning" and daily.created_by == "operator"
        assert daily.schedule.kind == "cron" and weekly.schedule.every_seconds == 7 * 86400
        with pytest.raises(ValidationError) as bad:
            await pm.checkins.create(key, "x", every="2m")
        assert bad.value.field == "every" and "5 minutes" in bad.value.message
        listed = [c.id for c in await collect(pm.checkins.list(key, page_size=1))]
        assert listed == [daily.id, weekly.id]
        await pm.checkins.cancel(key, daily.id)
        assert [c.id for c in await collect(pm.checkins.list(key))] == [weekly.id]
        with pytest.raises(NotFoundError):
            await pm.checkins.cancel(key, daily.id)
        actions = [e.action for e in await collect(pm.audit.list())]
    assert actions == ["checkins.cancel", "checkins.create", "checkins.create"]


# --------------------------------------------------------------------------- archival


async def test_archival_insert_search_with_scores_and_delete(live: LiveApi) -> None:
    key = "telegram:user:42"
    await live.talk(key, "hi")
    async with live.client() as pm:
        (tea,) = await pm.archival.insert(key, "Ana drinks green tea every morning.")
        await pm.archival.insert(key, "Ana's green bicycle is parked by the door.")
        await pm.archival.insert(key, "The weather was cold in March.")
        found = await pm.archival.search(key, "green tea")
        assert found.scoring == "bm25" and found.total == 2
        assert found.items[0].passage.id == tea.id
        scores = [hit.score for hit in found.items]
        assert all(s is not None and s > 0 for s in scores) and scores == sorted(scores)[::-1]
        first = await pm.archival.search(key, "green", limit=1)
        second = await pm.archival.search(key, "green", limit=1, cursor=first.next_cursor)
        assert {first.items[0].passage.id, second.items[0].passage.id} == {
            h.passage.id for h in found.items
        }
        assert second.next_cursor is None
        assert await pm.archival.delete_passage(key, tea.id) == 1
        assert [h.passage.id for h in (await pm.archival.search(key, "tea")).items] == []
        with pytest.raises(NotFoundError):
            await pm.archival.delete_passage(key, tea.id)
        (own,) = await collect(pm.archival.sources(key))
        assert own.document_id is None and own.passages == 2
        assert await pm.archival.delete_source(key, None) == 2
        assert await collect(pm.archival.sources(key)) == []


async def test_an_upload_is_a_job_whose_progress_can_be_polled(live: LiveApi) -> None:
    key = "telegram:user:42"
    await live.talk(key, "hi")
    text = "\n\n".join(f"## Part {i}\n\nThe lighthouse keeper logged storm {i}." for i in range(40))
    async with live.client() as pm:
        job = await pm.archival.upload(key, text.encode(), filename="log.md", mime="text/markdown")
        assert job.status in ("running", "stored") and job.filename == "log.md"
        done = await pm.archival.wait(key, job.id, max_seconds=60, every=0.05)
        assert done.status == "stored" and done.passages > 0 and done.done == done.passages
        assert "log.md" in done.message
        (source,) = await collect(pm.archival.sources(key))
        assert source.filename == "log.md" and source.passages == done.passages
        hits = await pm.archival.search(key, "lighthouse storm 17")
        assert hits.items and hits.items[0].passage.document_id == source.document_id
        again = await pm.archival.upload(key, text.encode(), filename="log.md")
        assert (await pm.archival.wait(key, again.id, max_seconds=60)).status == "duplicate"
        refused = await pm.archival.upload(key, b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
                                           filename="photo.png")  # fmt: skip
        final = await pm.archival.wait(key, refused.id, max_seconds=60)
        assert final.status == "rejected" and "can't read .png" in final.message
        assert await pm.archival.delete_source(key, source.document_id) == source.passages
        assert (await pm.archival.search(key, "lighthouse")).items == []
    # the agent was told, as after a chat upload
    await asyncio.wait_for(_until(lambda: _told(live, key)), 30)


async def _until(check) -> None:  # type: ignore[no-untyped-def]
    """Poll a condition that another task makes true (no event to wait on: a store)."""
    for _ in range(10_000):
        if await check():
            return
        await asyncio.sleep(0.05)


async def _told(live: LiveApi, key: str) -> bool:
    state = await live.svc.storage.agents.load(key)
    messages = await live.svc.storage.recall.range(key, 0, state.last_seq if state else 0)
    return any(m.kind == "upload" and "log.md" in m.content for m in messages)


# --------------------------------------------------------------------------- isolation


async def _snapshot(live: LiveApi, key: str) -> tuple:  # type: ignore[type-arg]
    storage = live.svc.storage
    state = await storage.agents.load(key)
    passages = sorted(p.id for p in await storage.archival.all(key))
    checkins = sorted(c.id for c in await storage.checkins.active(key))
    sources = [s.document_id for s in await storage.archival.sources(key)]
    return state, passages, checkins, sources


async def _upload_processed(live: LiveApi, key: str) -> bool:
    """The agent's turn for an upload is stored (a job finishes once the file is stored and
    the agent is told through its inbox, not once the agent's turn for it has run)."""
    state = await live.svc.storage.agents.load(key)
    done = state.recent_event_ids if state else ()
    return any(event_id.startswith(f"upload:{key}:") for event_id in done)


async def test_nothing_a_request_does_touches_another_agent(live: LiveApi) -> None:
    a, b = "telegram:user:1", "telegram:user:2"
    for key in (a, b):
        await live.talk(key, "hello")
    other = AsyncPagemind(live.url, (await live.api.services.keys.create("bob", "admin"))[1])
    async with live.client() as alice, other as bob:
        for key in (a, b):
            await alice.archival.insert(key, f"{key} likes green tea")
            await alice.checkins.create(key, "check in", every="1d")
            # the same file for both: the same document id under each agent
            job = await alice.archival.upload(key, b"notes on tea", filename="notes.txt")
            await alice.archival.wait(key, job.id, max_seconds=60)
            # A finished job has queued the agent's UploadCompleted; its turn follows.
            await asyncio.wait_for(_until(partial(_upload_processed, live, key)), 30)
        before_b = await _snapshot(live, b)
        hits_a = (await alice.archival.search(a, "likes green tea")).items
        a_passage = next(h for h in hits_a if h.passage.document_id is None)  # an id only a has
        (a_checkin,) = await collect(alice.checkins.list(a))
        a_source = next(s for s in await collect(alice.archival.sources(a)) if s.filename)
        a_job = await alice.archival.upload(a, b"more about tea", filename="more.txt")
        # ids of agent a named under agent b are unknown there
        with pytest.raises(NotFoundError):
            await bob.archival.delete_passage(b, a_passage.passage.id)
        with pytest.raises(NotFoundError):
            await bob.checkins.cancel(b, a_checkin.id)
        with pytest.raises(NotFoundError):
            await bob.archival.job(b, a_job.id)
        b_source_ids = {s.document_id for s in await collect(bob.archival.sources(b))}
        assert a_source.document_id in b_source_ids  # the same file, stored for each agent
        # every write to a, by either key
        await alice.archival.wait(a, a_job.id, max_seconds=60)
        await bob.archival.insert(a, "more")
        await alice.archival.delete_passage(a, a_passage.passage.id)
        await bob.checkins.cancel(a, a_checkin.id)
        await alice.archival.delete_source(a, a_source.document_id)
        await bob.archival.delete_source(a, None)
        await alice.agents.set_budget(a, 50)
        assert await _snapshot(live, b) == before_b, "agent b is as it was"
        hits = await bob.archival.search(b, "tea")
        assert {h.passage.document_id for h in hits.items} >= {a_source.document_id}
        audit = await collect(alice.audit.list(agent=a))
    who = {(e.action, e.key_name) for e in audit[:6]}
    assert ("archival.insert", "bob") in who and ("checkins.cancel", "bob") in who
    assert ("archival.delete_passage", "alice (admin)") in who
    assert all(e.agent == a for e in audit)
