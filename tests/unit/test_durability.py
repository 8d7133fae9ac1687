"""A crash between steps, a replayed event, and per-agent ordering."""

from __future__ import annotations

import asyncio

from bots.storage import memory_storage
from core.errors import StorageUnavailableError
from core.inbound.dispatch import AgentDispatcher
from tests.support.agents import Harness, fresh_agents
from tests.support.scripted import ScriptedModel, call, say


class FlakyAgents:
    """Wraps an agent store; fails the n-th save, as a database would on a dropped link."""

    def __init__(self, inner, fail_on: int) -> None:
        self.inner, self.fail_on, self.calls = inner, fail_on, 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    async def save(self, state, expected_version):
        self.calls += 1
        if self.calls == self.fail_on:
            raise StorageUnavailableError("connection dropped")
        return await self.inner.save(state, expected_version)


class ProcessDied(BaseException):
    """Not an error the process handles: it stops right there, as on SIGKILL."""


async def test_replaying_an_event_resumes_an_open_chain_instead_of_repeating_it() -> None:
    model = ScriptedModel(
        [
            call("archival_memory_insert", content="fact", request_heartbeat=True),
            ProcessDied(),
        ]
    )
    h = Harness(model)
    event = h.message("save a fact and tell me")
    try:
        await h.runtime.handle(event)
    except ProcessDied:
        pass
    # a fresh runtime on the same stores, as after a restart
    model2 = ScriptedModel([say("Saved your fact.")])
    h2 = Harness(model2, agents=h.agents, recall=h.recall, archival=h.archival, clock=h.clock)
    outcome = await h2.runtime.handle(event)
    assert h2.sink.texts == ["Saved your fact."]
    assert len(model2.requests) == 1
    # the resumed call saw the stored first step, and the user message only once
    contents = [m.content for m in model2.requests[0].messages]
    assert sum("save a fact" in c for c in contents) == 1
    assert contents[-1] == "Saved."
    assert outcome.steps == 1
    assert len(await h.archival.all("agent-1")) == 1


async def test_replaying_a_finished_event_does_not_call_the_model_again() -> None:
    model = ScriptedModel([say("Hello!")])
    h = Harness(model)
    event = h.message("hi")
    await h.runtime.handle(event)
    outcome = await h.runtime.handle(event)
    assert outcome.replayed and len(model.requests) == 1


async def test_a_half_written_step_is_invisible_and_redone() -> None:
    model = ScriptedModel([say("first try"), say("second try")])
    flaky = FlakyAgents(fresh_agents(), fail_on=2)  # 1: creating the agent
    h = Harness(model, agents=flaky)
    event = h.message("hello")
    try:
        await h.runtime.handle(event)
    except StorageUnavailableError:
        pass
    assert h.sink.texts == [], "nothing is delivered before its step is stored"
    kept = await h.recall.range("agent-1", 0, 99)
    assert [m.content for m in kept] == ["hello"], "the message was kept before the model call"
    flaky.fail_on = 0  # the database is back
    await h.runtime.handle(event)
    assert h.sink.texts == ["second try"]
    session = await h.runtime.session("agent-1")
    assert [m.seq for m in session.fifo] == [1, 2, 3]
    stored = await h.recall.count("agent-1") + len(session.state.unfiled)
    assert stored == 3, "the message once, and the answer's two messages"


async def test_events_for_one_agent_run_in_order_and_agents_run_in_parallel() -> None:
    running: dict[str, int] = {}
    order: list[str] = []
    overlap = {"max": 0}

    async def handle(event) -> None:
        running[event.agent_key] = running.get(event.agent_key, 0) + 1
        assert running[event.agent_key] == 1, "two events of one agent ran at once"
        overlap["max"] = max(overlap["max"], sum(running.values()))
        await asyncio.sleep(0.01)
        order.append(event.event_id)
        running[event.agent_key] -= 1

    h = Harness(ScriptedModel())
    inbox = memory_storage().inbox
    dispatcher = AgentDispatcher(handle, inbox=inbox, max_concurrent_turns=4)
    events = [h.message(f"m{i}", agent=f"a{i % 3}") for i in range(12)]
    for event in events:
        assert await dispatcher.submit(event)
    assert not await dispatcher.submit(events[0]), "a redelivered event is dropped"
    await dispatcher.join()
    for agent in ("a0", "a1", "a2"):
        expected = [e.event_id for e in events if e.agent_key == agent]
        assert [eid for eid in order if eid in expected] == expected
    assert overlap["max"] > 1
    assert await inbox.pending() == []
    await dispatcher.aclose()


async def test_unfinished_events_are_recovered_from_the_inbox() -> None:
    h = Harness(ScriptedModel())
    inbox = memory_storage().inbox
    events = [h.message(f"m{i}") for i in range(3)]
    for event in events:
        await inbox.put(event)
    await inbox.mark_done(events[0].event_id)
    seen: list[str] = []

    async def handle(event) -> None:
        seen.append(event.event_id)

    dispatcher = AgentDispatcher(handle, inbox=inbox)
    assert await dispatcher.start() == 2
    await dispatcher.join()
    assert seen == [events[1].event_id, events[2].event_id]
    await dispatcher.aclose()


async def test_an_event_queued_by_a_refill_and_a_local_submit_runs_once() -> None:
    """With peers, a worker refills its queue from the inbox before each turn; an event
    submitted here while another turn runs is in the local queue and in that refill, and
    runs once."""
    from core.inbound.leases import SoleWorkerLeases

    class Peers(SoleWorkerLeases):
        has_peers = True

    h = Harness(ScriptedModel())
    inbox = memory_storage().inbox
    seen: list[str] = []
    running, gate = asyncio.Event(), asyncio.Event()

    async def handle(event) -> None:
        seen.append(event.event_id)
        running.set()
        await gate.wait()

    dispatcher = AgentDispatcher(handle, inbox=inbox, leases=Peers())
    first, second = h.message("one"), h.message("two")
    assert await dispatcher.submit(first)
    await asyncio.wait_for(running.wait(), 10)  # the worker runs `first`, held at the gate
    assert await dispatcher.submit(second)  # recorded and queued here; the refill lists it too
    gate.set()
    await dispatcher.join()
    await dispatcher.poll_once()
    await dispatcher.join()
    assert seen == [first.event_id, second.event_id]
    await dispatcher.aclose()


async def test_an_event_handled_before_others_is_not_run_again_when_replayed_late() -> None:
    model = ScriptedModel([say("first"), say("second")])
    h = Harness(model)
    early, later = h.message("one"), h.message("two")
    await h.runtime.handle(early)
    await h.runtime.handle(later)
    outcome = await h.runtime.handle(early)  # handed over again, out of order
    assert outcome.replayed and len(model.requests) == 2
    assert h.sink.texts == ["first", "second"]


class DyingSink:
    """A platform link that dies (as the process does) on the first send."""

    async def send(self, reply) -> None:
        raise asyncio.CancelledError  # the worker is killed right after storing the step


async def test_replies_stored_but_never_sent_go_out_before_the_next_event() -> None:
    model = ScriptedModel([say("About the interview: how did it go?")])
    inbox = memory_storage().inbox
    h = Harness(model, inbox=inbox, sink=DyingSink())
    early, later = h.message("one"), h.message("two")
    await inbox.put(early)
    try:
        await h.runtime.handle(early)
    except asyncio.CancelledError:
        pass  # stored, never sent, never marked done
    # The new owner is handed the later event first (replicas can hand over out of order).
    h2 = Harness(
        ScriptedModel([say("Glad to hear it.")]),
        agents=h.agents, recall=h.recall, archival=h.archival, clock=h.clock, inbox=inbox,
    )  # fmt: skip
    await h2.runtime.handle(later)
    outcome = await h2.runtime.handle(early)
    assert outcome.replayed
    assert h2.sink.texts == ["About the interview: how did it go?", "Glad to hear it."]


async def test_a_replayed_finished_event_is_not_sent_twice_by_the_same_worker() -> None:
    h = Harness(ScriptedModel([say("Hello!")]))
    event = h.message("hi")
    await h.runtime.handle(event)
    await h.runtime.handle(event)  # the inbox handed it over again (its done mark was lost)
    assert h.sink.texts == ["Hello!"]


async def test_a_batch_of_timers_runs_once_each_in_order() -> None:
    h = Harness(ScriptedModel())
    inbox = memory_storage().inbox
    seen: list[str] = []

    async def handle(event) -> None:
        seen.append(event.event_id)

    dispatcher = AgentDispatcher(handle, inbox=inbox)
    one, two = h.message("one"), h.message("two")
    assert await dispatcher.submit_many([one, two, one]) == [True, True, False]
    await dispatcher.join()
    assert seen == [one.event_id, two.event_id]
    assert await dispatcher.submit_many([two]) == [False], "a re-fired timer is recognised"
    await dispatcher.join()
    assert seen == [one.event_id, two.event_id]
    await dispatcher.aclose()


async def test_replies_this_worker_sent_are_not_resent_after_it_drops_the_context() -> None:
    h = Harness(ScriptedModel([say("Hello!"), say("Again?")]))
    first, second = h.message("hi"), h.message("still there?")
    await h.runtime.handle(first)
    h.runtime.forget("agent-1")  # e.g. its lease looked lost for a moment
    await h.runtime.handle(second)
    assert h.sink.texts == ["Hello!", "Again?"]


async def test_after_a_clean_restart_the_last_reply_is_not_sent_again() -> None:
    inbox = memory_storage().inbox
    h = Harness(ScriptedModel([say("Hello!")]), inbox=inbox)
    first = h.message("hi")
    await inbox.put(first)
    await h.runtime.handle(first)
    await inbox.mark_done(first.event_id)
    # a new process on the same stores (a deploy, a restart)
    h2 = Harness(
        ScriptedModel([say("Still here.")]),
        agents=h.agents, recall=h.recall, archival=h.archival, clock=h.clock, inbox=inbox,
    )  # fmt: skip
    h2._ids = h._ids  # event ids go on where the first process stopped
    await h2.runtime.handle(h2.message("are you there?"))
    assert h2.sink.texts == ["Still here."]


class BrokenAgents:
    """An agent store whose every update fails (the database answers nothing but errors)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    async def save(self, state, expected_version):
        if expected_version is not None:
            raise StorageUnavailableError("timed out")
        return await self.inner.save(state, expected_version)


async def test_an_event_that_fails_every_attempt_is_kept_and_the_person_told(caplog) -> None:
    from core.inbound.agent_data import export_agent

    inbox = memory_storage().inbox
    h = Harness(
        ScriptedModel(default=say("never stored")), inbox=inbox, agents=BrokenAgents(fresh_agents())
    )
    dispatcher = AgentDispatcher(
        h.runtime.handle,
        inbox=inbox,
        forget=h.runtime.forget,
        give_up=h.runtime.give_up,
        retry_delay=0,
    )
    event = h.message("my passport number is X123")
    await dispatcher.submit(event)
    await dispatcher.join()
    await dispatcher.aclose()
    (notice,) = h.sink.texts
    assert notice.startswith("Sorry, I couldn't answer just now") and "saved" in notice
    (line,) = [r for r in caplog.records if "failed 3 times" in r.getMessage()]
    assert line.levelname == "ERROR" and line.event_id == event.event_id  # type: ignore[attr-defined]
    assert "StorageUnavailableError: timed out" in line.getMessage()
    exported = await export_agent(
        "agent-1",
        agents=h.agents,
        recall=h.recall,
        archival=h.archival,
        inbox=inbox,
        now=h.clock.now(),
    )
    (failed,) = exported.failed_events
    assert failed.event == event and "StorageUnavailableError" in failed.error
    assert await inbox.pending() == []


async def test_a_failed_event_is_stored_unanswered_once_the_database_is_back() -> None:
    inbox = memory_storage().inbox
    model = ScriptedModel(default=say("Back."))
    saves = {"left": 3}  # the three attempts fail; the give-up's save succeeds
    stored = fresh_agents()

    class FailThrice:
        def __getattr__(self, name: str):
            return getattr(stored, name)

        async def save(self, state, expected_version):
            if expected_version is not None and saves["left"] > 0:
                saves["left"] -= 1
                raise StorageUnavailableError("timed out")
            return await stored.save(state, expected_version)

    h = Harness(model, inbox=inbox, agents=FailThrice())
    dispatcher = AgentDispatcher(
        h.runtime.handle, inbox=inbox, forget=h.runtime.forget, give_up=h.runtime.give_up,
        retry_delay=0,
    )  # fmt: skip
    await dispatcher.submit(h.message("remember: locker 4417"))
    await dispatcher.join()
    await dispatcher.submit(h.message("and now?"))
    await dispatcher.join()
    await dispatcher.aclose()
    assert "saved" in h.sink.texts[0] and h.sink.texts[1:] == ["Back."]
    shown = [m.content for m in model.requests[-1].messages]
    assert sum("remember: locker 4417" in c for c in shown) == 1, "in the log, once"


async def test_the_last_answer_is_searchable_exported_and_reloaded_before_the_next_one() -> None:
    """The last step's messages travel in the agent state until the next recall write: every
    reader of the log sees them all the same."""
    from core.inbound.agent_data import export_agent
    from core.inbound.commands import Command, CommandContext, CommandHandler

    inbox = memory_storage().inbox
    h = Harness(ScriptedModel([say("The ferry leaves at 07:10.")]), inbox=inbox)
    await h.send("when does the ferry leave?")
    handler = CommandHandler(
        agents=h.agents, recall=h.recall, archival=h.archival, inbox=inbox, clock=h.clock
    )
    ctx = CommandContext(
        conversation_agent="agent-1", own_agent="agent-1", caller_id="u", caller_name="A"
    )
    found = await handler.run(Command("search", "ferry leaves"), ctx)
    assert "The ferry leaves at 07:10." in found.text
    memory = await handler.run(Command("memory"), ctx)
    assert "I also keep 3 messages" in memory.text
    exported = await export_agent(
        "agent-1", agents=h.agents, recall=h.recall, archival=h.archival, inbox=inbox,
        now=h.clock.now(),
    )  # fmt: skip
    assert [m.seq for m in exported.messages] == [1, 2, 3]
    # a new process on the same stores
    h2 = Harness(
        ScriptedModel([say("Yes.")]), agents=h.agents, recall=h.recall, archival=h.archival,
        clock=h.clock,
    )  # fmt: skip
    h2._ids = h._ids  # event ids go on where the first process stopped
    await h2.send("sure?")
    said = [c.arguments for m in h2.model.requests[0].messages for c in m.tool_calls]
    assert any("The ferry leaves at 07:10." in a for a in said), "the answer is in the prompt"
    assert [m.seq for m in await h.recall.range("agent-1", 0, 99)] == [1, 2, 3, 4]
