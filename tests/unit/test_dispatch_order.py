"""The dispatcher with other workers on the database: order follows the inbox, an agent
held elsewhere is reported to whoever waits, and stopping starts no new turn."""

from __future__ import annotations

import asyncio

from adapters.inmemory import InMemoryInbox
from core.errors import StorageUnavailableError
from core.inbound.dispatch import AgentDispatcher
from core.inbound.leases import SoleWorkerLeases
from core.ports.workers import LeaseHolder
from tests.support.agents import Harness
from tests.support.scripted import ScriptedModel


class PeerLeases(SoleWorkerLeases):
    """Other workers are alive; this one gets every lease unless told otherwise."""

    has_peers = True

    def __init__(self, held_by: LeaseHolder | None = None) -> None:
        self.held_by = held_by
        self.nudged: list[str] = []

    async def acquire(self, agent_key: str) -> bool:
        return self.held_by is None

    def holder(self, agent_key: str) -> LeaseHolder | None:
        return self.held_by

    async def nudge(self, agent_key: str) -> None:
        self.nudged.append(agent_key)


async def test_an_event_recorded_elsewhere_first_runs_before_a_later_local_one() -> None:
    """The agent's worker is busy; another process records A, then this one accepts B:
    A (accepted first) runs first, though B sits in the local queue and A does not."""
    h = Harness(ScriptedModel())
    inbox = InMemoryInbox()
    seen: list[str] = []
    gate, busy = asyncio.Event(), asyncio.Event()

    async def handle(event) -> None:
        seen.append(event.text)
        busy.set()
        await gate.wait()

    dispatcher = AgentDispatcher(handle, inbox=inbox, leases=PeerLeases())
    await dispatcher.submit(h.message("first"))
    await busy.wait()
    await inbox.put(h.message("A, accepted by another process"))
    await dispatcher.submit(h.message("B, accepted here after A"))
    gate.set()
    await dispatcher.join()
    assert seen == ["first", "A, accepted by another process", "B, accepted here after A"]
    await dispatcher.aclose()


async def test_stopping_finishes_the_turn_under_way_and_starts_no_other() -> None:
    h = Harness(ScriptedModel())
    inbox = InMemoryInbox()
    seen: list[str] = []
    gate, both = asyncio.Event(), asyncio.Event()

    async def handle(event) -> None:
        seen.append(event.text)
        if len(seen) == 2:
            both.set()
        await gate.wait()

    dispatcher = AgentDispatcher(handle, inbox=inbox)
    for text in ("one", "two", "three"):
        await dispatcher.submit(h.message(text))
    await dispatcher.submit(h.message("for someone else", agent="agent-2"))
    await both.wait()  # both agents' first turns are under way
    dispatcher.pause()
    assert await dispatcher.submit(h.message("arrives while stopping"))
    gate.set()
    await dispatcher.join()
    assert sorted(seen) == ["for someone else", "one"], "no new turn after pause"
    assert dispatcher.left == 3, "two queued and one accepted while stopping"
    pending = [e.text for e in await inbox.pending()]  # type: ignore[union-attr]
    assert pending == ["two", "three", "arrives while stopping"], "kept for the next start"
    await dispatcher.aclose()


async def test_a_turn_still_running_when_closed_counts_as_left() -> None:
    h = Harness(ScriptedModel())
    inbox = InMemoryInbox()
    started = asyncio.Event()

    async def handle(event) -> None:
        started.set()
        await asyncio.Event().wait()

    dispatcher = AgentDispatcher(handle, inbox=inbox)
    await dispatcher.submit(h.message("never finishes"))
    await started.wait()
    dispatcher.pause()
    await dispatcher.aclose()
    assert dispatcher.left == 1
    assert len(await inbox.pending()) == 1


async def test_whoever_waits_is_told_which_worker_holds_the_agent() -> None:
    h = Harness(ScriptedModel())
    inbox = InMemoryInbox()
    holder = LeaseHolder("w-far", "pid 7 on elsewhere", expires_in=12.0, running=None)
    leases = PeerLeases(held_by=holder)
    handled: list[str] = []

    async def handle(event) -> None:
        handled.append(event.text)

    dispatcher = AgentDispatcher(handle, inbox=inbox, leases=leases, poll_interval=60)
    told: list[LeaseHolder] = []
    was_told = asyncio.Event()

    def on_wait(holder: LeaseHolder) -> None:
        told.append(holder)
        was_told.set()

    event = h.message("hello?")
    waiting = asyncio.ensure_future(dispatcher.submit_and_wait(event, on_wait=on_wait))
    await was_told.wait()
    assert told == [holder] and leases.nudged == ["agent-1"]
    assert not waiting.done(), "still waiting for the holder to answer"
    await inbox.mark_done(event.event_id)  # the holder processed it
    assert await asyncio.wait_for(waiting, 10) is True
    assert handled == [], "processed there, not here"
    await dispatcher.aclose()


async def test_a_holder_rung_after_its_worker_stopped_reads_the_agent_at_once() -> None:
    h = Harness(ScriptedModel())
    inbox = InMemoryInbox()
    handled = asyncio.Queue()

    async def handle(event) -> None:
        await handled.put(event.text)

    dispatcher = AgentDispatcher(handle, inbox=inbox, poll_interval=60)
    await dispatcher.start()
    await inbox.put(h.message("recorded by another process"))
    dispatcher._arrived(["agent-1"], True)  # its doorbell datagram
    assert await asyncio.wait_for(handled.get(), 10) == "recorded by another process"
    await dispatcher.aclose()


class FlakyInbox(InMemoryInbox):
    """Fails the first read of one agent's events, as a database would on a dropped link."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def pending(self, agent_key: str | None = None, limit: int = 1000):
        if agent_key is not None and self.failures:
            self.failures -= 1
            raise StorageUnavailableError("connection dropped")
        return await super().pending(agent_key, limit)


async def test_a_failed_inbox_read_before_a_turn_is_retried_not_fatal() -> None:
    h = Harness(ScriptedModel())
    inbox = FlakyInbox()
    handled: asyncio.Queue[str] = asyncio.Queue()

    async def handle(event) -> None:
        await handled.put(event.text)

    dispatcher = AgentDispatcher(handle, inbox=inbox, leases=PeerLeases(), retry_delay=0.01)
    await dispatcher.submit(h.message("still answered"))
    assert await asyncio.wait_for(handled.get(), 10) == "still answered"
    assert inbox.failures == 0
    await dispatcher.aclose()


async def test_a_duplicate_sent_while_the_first_waits_leaves_the_first_its_answer() -> None:
    """A retry of an event (the same id) arrives while the first submitter still waits: it is
    refused as a duplicate, and the first submitter is still told when the turn ends."""
    h = Harness(ScriptedModel())
    gate, started = asyncio.Event(), asyncio.Event()

    async def handle(event) -> None:
        started.set()
        await gate.wait()

    dispatcher = AgentDispatcher(handle, inbox=InMemoryInbox())
    event = h.message("once")
    first = asyncio.create_task(dispatcher.submit_and_wait(event))
    await started.wait()
    assert await dispatcher.submit_and_wait(event) is False
    gate.set()
    async with asyncio.timeout(5):
        assert await first is True
    await dispatcher.aclose()


async def test_whichever_of_two_submitters_records_the_event_is_told_when_it_ends() -> None:
    """Two submit the same event at once and the second's write lands first: the first is
    refused as the duplicate, and the second is still told when the turn ends."""
    h = Harness(ScriptedModel())
    first_put, second_in = asyncio.Event(), asyncio.Event()

    class SlowFirstWrite(InMemoryInbox):
        writes = 0

        async def put(self, event):  # type: ignore[no-untyped-def]
            self.writes += 1
            if self.writes == 1:
                await first_put.wait()  # the first submitter's write is slower on the wire
            else:
                second_in.set()
            return await super().put(event)

    turn = asyncio.Event()

    async def handle(event) -> None:
        await turn.wait()

    inbox = SlowFirstWrite()
    dispatcher = AgentDispatcher(handle, inbox=inbox)
    event = h.message("once")
    first = asyncio.create_task(dispatcher.submit_and_wait(event))
    second = asyncio.create_task(dispatcher.submit_and_wait(event))
    await second_in.wait()
    first_put.set()
    async with asyncio.timeout(5):
        assert await first is False  # refused while the turn is under way
        turn.set()
        assert await second is True
    await dispatcher.aclose()
