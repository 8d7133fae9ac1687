"""Check-ins as the agent and the user see them."""

from __future__ import annotations

from datetime import timedelta

from bots.components import checkin_triggers
from bots.storage import memory_storage
from core.checkins.service import CheckinService
from core.checkins.values import Checkin, CheckinPolicy, Schedule
from core.events import TimerFired
from core.inbound.commands import Command, CommandContext, CommandHandler
from core.tools.checkin_tools import register_checkin_tools
from core.tools.memgpt import register_memgpt_tools
from core.tools.registry import ToolRegistry
from core.turn.settings import AgentSettings
from tests.support.agents import Harness, ManualClock
from tests.support.scripted import ScriptedModel, call, say

AGENT = "agent-1"


def harness(
    model: ScriptedModel, policy: CheckinPolicy | None = None, **settings
) -> tuple[Harness, CheckinService, list]:
    fired: list = []
    runs: list[Harness] = []  # the harness, once built: fired check-ins run its turns

    async def submit(batch) -> None:
        for event in batch:
            fired.append(event)
            await runs[0].runtime.handle(event)

    clock = ManualClock()
    service = CheckinService(
        store=memory_storage().checkins,
        triggers=checkin_triggers(),
        clock=clock,
        submit=submit,
        policy=policy or CheckinPolicy(),
    )
    h = Harness(
        model,
        settings=AgentSettings(**settings),
        tools=register_checkin_tools(register_memgpt_tools(ToolRegistry())),
        clock=clock,
        checkins=service,
    )
    runs.append(h)
    return h, service, fired


async def test_the_agent_schedules_lists_and_cancels_its_own_check_ins() -> None:
    model = ScriptedModel(
        [
            call(
                "schedule_checkin",
                note="ask how the interview went",
                at="2026-11-22 18:00",
                request_heartbeat=True,
            ),
            say("I'll ask you tomorrow evening!"),
        ]
    )
    h, service, _fired = harness(model)
    await h.send("I have a job interview tomorrow at 3pm")
    result = model.requests[1].messages[-1].content
    assert result.startswith("Scheduled ") and "Sun 2026-11-22 18:00 UTC" in result
    (checkin,) = await service.active(AGENT)
    assert checkin.created_by == "agent" and checkin.address is not None
    model.add(call("list_checkins", request_heartbeat=True), say("ok"))
    await h.send("what have you planned?")
    assert "ask how the interview went" in model.requests[-1].messages[-1].content
    model.add(
        call("cancel_checkin", checkin_id=checkin.id, request_heartbeat=True), say("cancelled")
    )
    await h.send("never mind")
    assert model.requests[-1].messages[-1].content == f"Cancelled {checkin.id}."
    assert await service.active(AGENT) == []
    model.add(call("cancel_checkin", checkin_id="nope", request_heartbeat=True), say("hm"))
    await h.send("cancel it again")
    assert model.requests[-1].messages[-1].content.startswith("Failed: There is no active check-in")


async def test_a_due_check_in_reaches_the_agent_which_may_stay_silent() -> None:
    model = ScriptedModel(
        [say("noted"), call("archival_memory_search", query="interview", request_heartbeat=False)]
    )
    h, service, fired = harness(model, checkin_quiet_after_activity=0)
    await h.send("hi")
    await service.schedule(
        AGENT,
        "ask how the interview went",
        __import__("core.checkins.values", fromlist=["Schedule"]).Schedule(
            kind="once", at=h.clock.now() + timedelta(hours=1)
        ),
        timezone="UTC",
        created_by="agent",
    )
    h.clock.advance(hours=2)
    assert await service.fire_due() == 1
    assert isinstance(fired[0], TimerFired)
    prompt = model.requests[-1].messages[-1].content
    assert "Scheduled check-in due: ask how the interview went" in prompt
    assert h.sink.texts == ["noted"], "the agent chose to send nothing"


async def test_a_check_in_right_after_the_user_spoke_costs_no_model_call() -> None:
    model = ScriptedModel([say("hello")])
    h, service, _fired = harness(model, checkin_quiet_after_activity=1800)
    await h.send("hi")
    calls = len(model.requests)
    await service.schedule(
        AGENT,
        "ping",
        Schedule(kind="once", at=h.clock.now() + timedelta(minutes=5)),
        timezone="UTC",
        created_by="user",
    )
    h.clock.advance(minutes=10)
    assert await service.fire_due() == 1
    assert len(model.requests) == calls, "skipped before any LLM call"
    outcome = await h.runtime.handle(
        TimerFired(
            event_id="t2", agent_key=AGENT, occurred_at=h.clock.now(), checkin_id="x", note="later"
        )
    )
    assert outcome.skipped and outcome.tokens == 0


async def test_tokens_per_check_in_are_returned_for_recording() -> None:
    model = ScriptedModel([say("hi"), say("Good morning!")])
    h, _service, _fired = harness(model, checkin_quiet_after_activity=0)
    await h.send("hello")
    outcome = await h.runtime.handle(
        TimerFired(
            event_id="t1",
            agent_key=AGENT,
            occurred_at=h.clock.now(),
            checkin_id="c1",
            note="morning",
        )
    )
    assert outcome.tokens == 110 and not outcome.skipped  # the scripted model reports 100 + 10
    store = memory_storage().checkins
    await store.add(
        Checkin(
            id="c1",
            agent_key=AGENT,
            note="m",
            schedule=Schedule(kind="cron", cron="0 9 * * *"),
            timezone="UTC",
            created_by="operator",
            created_at=h.clock.now(),
            next_due=h.clock.now(),
        )
    )
    await store.record_tokens("c1", outcome.tokens, outcome.skipped)
    assert (await store.active(AGENT))[0].tokens == 110


async def test_users_manage_check_ins_and_their_time_zone_with_commands() -> None:
    model = ScriptedModel([say("hi")])
    h, service, _fired = harness(model)
    await h.send("hello")
    handler = CommandHandler(
        agents=h.agents,
        recall=h.recall,
        archival=h.archival,
        inbox=memory_storage().inbox,
        clock=h.clock,
        checkins=service,
        forget=h.runtime.forget,
    )
    ctx = CommandContext(
        conversation_agent=AGENT, own_agent=AGENT, caller_id="u1", caller_name="Ana"
    )
    reply = await handler.run(Command("timezone", "Asia/Tokyo"), ctx)
    assert reply.text.startswith("Done: I use Asia/Tokyo")
    reply = await handler.run(Command("checkin", "every 1d drink water"), ctx)
    assert reply.text.startswith("Scheduled: ") and "JST" in reply.text
    reply = await handler.run(Command("checkin", "cron 0 9 * * 1-5 standup notes"), ctx)
    assert "standup notes" in reply.text
    bad = await handler.run(Command("checkin", "tomorrow maybe"), ctx)
    assert bad.text.startswith("Say when and what")
    listing = await handler.run(Command("checkins"), ctx)
    assert "drink water" in listing.text and "standup notes" in listing.text
    first_id = (await service.active(AGENT))[0].id
    cancelled = await handler.run(Command("checkins", f"cancel {first_id}"), ctx)
    assert cancelled.text == f"Cancelled check-in {first_id}."
    assert len(await service.active(AGENT)) == 1
    assert (await h.agents.load(AGENT)).timezone == "Asia/Tokyo"
    unknown = await handler.run(Command("timezone", "Mars/Base"), ctx)
    assert "not a time zone" in unknown.text


async def test_the_operator_default_check_in_is_created_for_new_agents() -> None:
    from bots.bootstrap import checkin_policy
    from config.settings import Settings

    model = ScriptedModel([say("hi"), say("hey")])
    settings = Settings(checkin_default_cron="0 9 * * *", llm_api_key="k")  # type: ignore[call-arg]
    h, service, _fired = harness(model, checkin_policy(settings, checkin_triggers()))
    await h.send("hello")
    await h.send("hello", agent="telegram:channel:-:group1")
    (default,) = await service.active(AGENT)
    assert default.created_by == "operator" and default.schedule.cron == "0 9 * * *"
    assert default.address is not None, "it goes where the person first wrote"
    assert await service.active("telegram:channel:-:group1") == [], "not for group agents"


async def test_no_default_check_in_for_a_person_behind_the_openai_compatible_endpoint() -> None:
    from bots.bootstrap import checkin_policy
    from config.settings import Settings
    from core.events import Address, UserMessageReceived

    model = ScriptedModel([say("hi"), say("hey")])
    settings = Settings(checkin_default_cron="0 9 * * *", llm_api_key="k")  # type: ignore[call-arg]
    h, service, _fired = harness(model, checkin_policy(settings, checkin_triggers()))
    # Nothing can be pushed to them: a check-in would spend model calls nobody reads.
    await h.runtime.handle(
        UserMessageReceived(
            event_id="openai:r1",
            agent_key="openai:user:ana",
            occurred_at=h.clock.now(),
            text="hello",
            author_id="ana",
            reply_to=Address(platform="openai", channel_id="ana", is_direct=True),
        )
    )
    assert (await h.agents.load("openai:user:ana")).home.platform == "openai"
    assert await service.active("openai:user:ana") == []
    await h.send("hello")  # a platform that can be written to still gets it
    assert len(await service.active(AGENT)) == 1


async def test_a_check_in_with_nowhere_to_go_is_refused_when_made() -> None:
    from core.events import UploadCompleted

    at = "2026-11-22 18:00"
    model = ScriptedModel(
        [call("schedule_checkin", note="ask about the file", at=at, request_heartbeat=True)],
        default=say("ok"),
    )
    h, service, _fired = harness(model)
    # `pagemind ingest` told a brand-new agent about a file: no conversation exists yet.
    await h.runtime.handle(
        UploadCompleted(
            event_id="u1", agent_key=AGENT, occurred_at=h.clock.now(), filename="a.pdf", passages=3
        )
    )
    result = model.requests[1].messages[-1].content
    assert result.startswith("Failed: There is no conversation to send a check-in to yet")
    assert await service.active(AGENT) == []
    handler = CommandHandler(
        agents=h.agents, recall=h.recall, archival=h.archival, inbox=memory_storage().inbox,
        clock=h.clock, checkins=service,
    )  # fmt: skip
    ctx = CommandContext(conversation_agent=AGENT, own_agent=AGENT, caller_id="u", caller_name="A")
    reply = await handler.run(Command("checkin", f"at {at} call the bank"), ctx)
    assert "write to me first" in reply.text and await service.active(AGENT) == []


async def test_a_check_in_with_nowhere_to_go_costs_no_model_call() -> None:
    model = ScriptedModel([say("never")])
    h, _service, _fired = harness(model, checkin_quiet_after_activity=0)
    outcome = await h.runtime.handle(
        TimerFired(
            event_id="t1", agent_key=AGENT, occurred_at=h.clock.now(), checkin_id="c", note="old"
        )
    )  # a check-in stored before addresses were recorded, for an agent nobody wrote to
    assert outcome.skipped and model.requests == [] and h.sink.sent == []


async def test_a_command_check_in_answers_where_it_was_asked_quoting_nothing() -> None:
    from core.events import Address

    model = ScriptedModel([say("Time to call the bank.")])
    h, service, _fired = harness(model, checkin_quiet_after_activity=0)
    handler = CommandHandler(
        agents=h.agents, recall=h.recall, archival=h.archival, inbox=memory_storage().inbox,
        clock=h.clock, checkins=service,
    )  # fmt: skip
    here = Address(platform="test", channel_id="dm-7", reply_to_message_id="55", is_direct=True)
    ctx = CommandContext(
        conversation_agent=AGENT, own_agent=AGENT, caller_id="u", caller_name="A", address=here
    )
    reply = await handler.run(Command("checkin", "at 2026-11-21 12:00 call the bank"), ctx)
    assert reply.text.startswith("Scheduled: ")
    h.clock.advance(hours=4)
    assert await service.fire_due() == 1
    (sent,) = h.sink.sent
    assert sent.text == "Time to call the bank."
    assert sent.address == here.unquoted() and sent.address.reply_to_message_id is None


async def test_what_a_check_in_cost_is_recorded_on_it_by_the_service() -> None:
    """The service as the composition root wires it records each check-in's tokens."""
    from datetime import UTC, datetime

    from core.inbound.messages import IncomingMessage, PlatformPolicy, Sender
    from tests.support.service import service

    model = ScriptedModel([say("Good morning!")])
    async with service(model, policies={"telegram": PlatformPolicy()}, checkins=True) as h:
        assert h.checkins is not None and h.checkin_clock is not None
        asked = IncomingMessage(
            platform="telegram",
            delivery_id="1",
            message_id="1",
            sender=Sender("u1", "Ana"),
            channel_id="u1",
            text="/checkin every 1d say good morning",
            received_at=datetime.now(UTC),
            is_direct=True,
        )
        assert (await h.gateway.receive(asked)).status == "command"
        h.checkin_clock.advance(days=1, minutes=1)
        assert await h.checkins.fire_due() == 1
        await h.dispatcher.join()
        (checkin,) = await h.checkins.active("telegram:user:u1")
        assert checkin.fired == 1
        assert checkin.tokens == 110 and checkin.skipped == 0  # the scripted model: 100 + 10
