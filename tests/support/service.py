"""The whole service in one process for platform end-to-end tests: in-memory stores, a
scripted model (a test double), the real runtime, dispatcher, commands and gateway.

Adapters under test register themselves on ``harness.replies`` and call ``harness.gateway``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from adapters.inmemory import (
    InMemoryAgentStore,
    InMemoryArchivalStore,
    InMemoryInbox,
    InMemoryRecallStore,
)
from core.agent import AgentRuntime, AgentSettings
from core.clock import SystemClock
from core.commands import CommandHandler
from core.dispatch import AgentDispatcher
from core.gateway import Gateway, ReplyRouter
from core.inbound import PlatformPolicy
from core.ports import UploadIntake
from core.tokens import TokenCounter
from core.tools.memgpt import register_memgpt_tools
from core.tools.registry import ToolRegistry
from tests.support.agents import default_prompts
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


@asynccontextmanager
async def service(
    model: ScriptedModel,
    *,
    policies: Mapping[str, PlatformPolicy],
    settings: AgentSettings | None = None,
    uploads: Mapping[str, UploadIntake] | None = None,
    inbox: InMemoryInbox | None = None,
) -> AsyncIterator[ServiceHarness]:
    clock = SystemClock()
    agents, recall = InMemoryAgentStore(), InMemoryRecallStore()
    archival, inbox = InMemoryArchivalStore(), inbox or InMemoryInbox()
    replies = ReplyRouter()
    runtime = AgentRuntime(
        model=model,
        agents=agents,
        recall=recall,
        archival=archival,
        tools=register_memgpt_tools(ToolRegistry()),
        prompts=default_prompts(),
        counter=TokenCounter("gpt-4o-mini"),
        clock=clock,
        replies=replies,
        settings=settings or AgentSettings(),
    )
    dispatcher = AgentDispatcher(
        runtime.handle, inbox=inbox, forget=runtime.forget, poll_interval=0.2
    )
    commands = CommandHandler(
        agents=agents,
        recall=recall,
        archival=archival,
        inbox=inbox,
        clock=clock,
        forget=runtime.forget,
    )
    gateway = Gateway(dispatcher=dispatcher, commands=commands, policies=policies, uploads=uploads)
    await dispatcher.start()
    try:
        yield ServiceHarness(
            model, gateway, dispatcher, runtime, replies, agents, recall, archival, inbox
        )
    finally:
        await dispatcher.aclose()
