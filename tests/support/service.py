"""The whole service in one process for platform end-to-end tests, wired by the composition
root (``bots.bootstrap.wire``) as ``pagemind run`` wires it, with in-memory stores and a
scripted model (a test double at the LLM port).

Adapters under test are attached with ``harness.service.attach`` and call ``harness.gateway``.
The check-in timer is not started: tests fire check-ins by moving ``checkin_clock``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bots.bootstrap import Service, wire
from bots.storage import memory_storage
from core.checkins.service import CheckinService
from core.inbound.dispatch import AgentDispatcher
from core.inbound.gateway import Gateway, ReplyRouter
from core.inbound.messages import PlatformPolicy
from core.ports import AgentStore, ArchivalStore, Inbox, RecallStore, UploadIntake
from core.turn.runtime import AgentRuntime
from core.turn.settings import AgentSettings
from tests.support.agents import ManualClock, settings_for_tests
from tests.support.scripted import ScriptedModel


@dataclass
class ServiceHarness:
    service: Service
    model: ScriptedModel
    checkin_clock: ManualClock | None = None  # check-ins come due when the test moves it

    @property
    def gateway(self) -> Gateway:
        return self.service.gateway

    @property
    def dispatcher(self) -> AgentDispatcher:
        return self.service.dispatcher

    @property
    def runtime(self) -> AgentRuntime:
        return self.service.runtime

    @property
    def replies(self) -> ReplyRouter:
        assert self.service.replies is not None
        return self.service.replies

    @property
    def agents(self) -> AgentStore:
        return self.service.storage.agents

    @property
    def recall(self) -> RecallStore:
        return self.service.storage.recall

    @property
    def archival(self) -> ArchivalStore:
        return self.service.storage.archival

    @property
    def inbox(self) -> Inbox:
        return self.service.storage.inbox

    @property
    def checkins(self) -> CheckinService | None:
        return self.service.checkins

    def attach(self, platform: str, adapter: Any, intake: UploadIntake | None = None) -> None:
        """Wire the adapter in as ``pagemind run`` does (a fake ``intake`` if given)."""
        self.service.attach(platform, adapter, intake=intake)


@asynccontextmanager
async def service(
    model: ScriptedModel,
    *,
    policies: Mapping[str, PlatformPolicy],
    settings: AgentSettings | None = None,
    inbox: Inbox | None = None,
    checkins: bool = False,
    clock: ManualClock | None = None,
) -> AsyncIterator[ServiceHarness]:
    storage = memory_storage()
    if inbox is not None:
        storage = replace(storage, inbox=inbox)
    checkin_clock = clock or (ManualClock(datetime.now(UTC)) if checkins else None)
    svc = wire(
        settings_for_tests(checkins=checkins, inbox_poll_seconds=0.2),
        storage=storage,
        model=model,
        clock=checkin_clock,
        policies=policies,
        tuning=settings or AgentSettings(),
    )
    await svc.dispatcher.start()
    try:
        yield ServiceHarness(svc, model, checkin_clock)
    finally:
        await svc.dispatcher.aclose()
        await svc.intakes.aclose()
