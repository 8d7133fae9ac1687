"""The whole service in one process for platform end-to-end tests: in-memory stores, a
scripted model (a test double), the real runtime, dispatcher, commands and gateway.

Adapters under test register themselves on ``harness.replies`` and call ``harness.gateway``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.inmemory import (
    InMemoryAgentStore,
    InMemoryArchivalStore,
    InMemoryCheckinStore,
    InMemoryInbox,
    InMemoryRecallStore,
)
from adapters.scheduling.triggers import ApschedulerTriggers
from core.checkins.service import CheckinService
from core.clock import SystemClock
from core.context.tokens import TokenCounter
from core.events import Event
from core.inbound.commands import CommandHandler
from core.inbound.dispatch import AgentDispatcher
from core.inbound.gateway import Gateway, ReplyRouter
from core.inbound.messages import PlatformPolicy
from core.ports import UploadIntake
from core.tools.checkin_tools import register_checkin_tools
from core.tools.memgpt import register_memgpt_tools
from core.tools.registry import ToolRegistry
from core.turn.runtime import AgentRuntime
from core.turn.settings import AgentSettings
from tests.support.agents import ManualClock, default_prompts
from tests.support.scripted import ScriptedModel


@dataclass
class ServiceHarness:
    model: ScriptedModel
    gateway: Gateway
    dispatcher: AgentDispatcher
    runtime: AgentRuntime
    replies: ReplyRouter
    agents: InMemoryAgentStore
    recall: InMemoryRecallStore
    archival: InMemoryArchivalStore
    inbox: InMemoryInbox
    checkins: CheckinService | None = None
    checkin_clock: ManualClock | None = None  # check-ins come due when the test moves it


@asynccontextmanager
async def service(
    model: ScriptedModel,
    *,
    policies: Mapping[str, PlatformPolicy],
    settings: AgentSettings | None = None,
    uploads: Mapping[str, UploadIntake] | None = None,
    inbox: InMemoryInbox | None = None,
    checkins: bool = False,
) -> AsyncIterator[ServiceHarness]:
    clock = SystemClock()
    agents, recall = InMemoryAgentStore(), InMemoryRecallStore()
    archival, inbox = InMemoryArchivalStore(), inbox or InMemoryInbox()
    replies = ReplyRouter()
    checkin_clock = ManualClock(datetime.now(UTC)) if checkins else None
    dispatcher: AgentDispatcher | None = None

    async def submit(events: Sequence[Event]) -> list[bool]:
        assert dispatcher is not None
        return await dispatcher.submit_many(events)

    scheduler = (
        CheckinService(
            store=InMemoryCheckinStore(),
            triggers=ApschedulerTriggers(),
            clock=checkin_clock,
            submit=submit,
        )
        if checkin_clock is not None
        else None
    )
    tools = register_memgpt_tools(ToolRegistry())
    if scheduler is not None:
        register_checkin_tools(tools)
    runtime = AgentRuntime(
        model=model,
        agents=agents,
        recall=recall,
        archival=archival,
        tools=tools,
        prompts=default_prompts(),
        counter=TokenCounter("gpt-4o-mini"),
        clock=clock,
        replies=replies,
        settings=settings or AgentSettings(),
        checkins=scheduler,
    )
    dispatcher = AgentDispatcher(
        runtime.handle,
        inbox=inbox,
        forget=runtime.forget,
        give_up=runtime.give_up,
        poll_interval=0.2,
    )
    commands = CommandHandler(
        agents=agents,
        recall=recall,
        archival=archival,
        inbox=inbox,
        clock=clock,
        forget=runtime.forget,
        checkins=scheduler,
    )
    gateway = Gateway(dispatcher=dispatcher, commands=commands, policies=policies, uploads=uploads)
    await dispatcher.start()
    try:
        yield ServiceHarness(
            model,
            gateway,
            dispatcher,
            runtime,
            replies,
            agents,
            recall,
            archival,
            inbox,
            scheduler,
            checkin_clock,
        )
    finally:
        await dispatcher.aclose()
