"""The composition root: the one place where Pagemind is wired, for every way it runs.

``wire`` builds the whole object graph from ports that are already open, with no I/O and
nothing started: the runtime, the dispatcher, commands, the gateway, uploads, check-ins.
``bootstrap`` opens the real ports the settings name (the model server, the stores, the
embedder), wires, starts the dispatcher and the check-in timer, and closes it all in reverse
on exit: ``pagemind run`` and ``pagemind chat`` (and the multi-process tests' worker, the
benchmarks) run that. ``ingestion`` is ``pagemind ingest`` (stores and the upload pipeline,
no model) and ``stores`` is ``pagemind usage``.

Every port can be given instead (a fake in tests, a scripted model in benchmarks), as in
cosmicpython's ``bootstrap(uow=FakeUnitOfWork(), ...)``; what is not given is built here
from the settings, by the functions of ``bots.components``, ``bots.storage`` and
``bots.platforms``: the only modules that name concrete adapters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from bots.components import (
    agent_settings,
    chat_model,
    checkin_policy,
    checkin_triggers,
    document_parser,
    embedder,
    prompt_texts,
    token_counter,
    tool_registry,
    upload_settings,
)
from bots.platforms import PlatformAdapter
from bots.storage import Storage, open_storage
from config.settings import Settings
from core.checkins.service import CheckinService
from core.clock import SystemClock
from core.context.tokens import TokenCounter
from core.events import Event
from core.ids import RandomIds
from core.inbound.commands import CommandHandler
from core.inbound.dispatch import AgentDispatcher
from core.inbound.gateway import Gateway, ReplyRouter
from core.inbound.messages import PlatformPolicy
from core.operator.chat import PLATFORM as OPENAI_PLATFORM
from core.operator.chat import StoredReplies
from core.operator.feed import StepFeed
from core.ports import (
    ChatModel,
    Clock,
    DocumentParser,
    Embedder,
    IdSource,
    ReplySink,
    Triggers,
    TurnObserver,
    UploadIntake,
)
from core.tasks import BackgroundTasks
from core.tools.checkin_tools import register_checkin_tools
from core.tools.registry import ToolRegistry
from core.turn.runtime import AgentRuntime
from core.turn.settings import AgentSettings
from core.uploads.pipeline import UploadPipeline
from core.uploads.platform import PlatformIntakes


@dataclass
class Service:
    """A wired Pagemind."""

    settings: Settings
    storage: Storage
    clock: Clock
    counter: TokenCounter
    embedder: Embedder | None
    checkins: CheckinService | None
    runtime: AgentRuntime
    dispatcher: AgentDispatcher
    commands: CommandHandler
    gateway: Gateway
    uploads: UploadPipeline
    intakes: PlatformIntakes
    replies: ReplyRouter | None  # the platforms' reply sinks (when no sink was given)
    feed: StepFeed  # each stored step, for whoever waits on a turn here (the operator API)

    def attach(
        self, platform: str, adapter: PlatformAdapter, *, intake: UploadIntake | None = None
    ) -> None:
        """Wire a started-or-not platform adapter in: the agent's replies on that platform
        go through it, and files sent there are loaded through it (or handed to ``intake``,
        a fake at the port)."""
        if self.replies is not None:
            self.replies.register(platform, adapter)
        if intake is not None:
            self.intakes.register(platform, intake)
        else:
            max_bytes = self.gateway.policy(platform).max_upload_bytes
            self.intakes.attach(platform, self.uploads, adapter, max_bytes=max_bytes)


def wire(
    settings: Settings,
    *,
    storage: Storage,
    model: ChatModel,
    replies: ReplySink | None = None,
    clock: Clock | None = None,
    ids: IdSource | None = None,
    embedder: Embedder | None = None,
    observer: TurnObserver | None = None,
    policies: Mapping[str, PlatformPolicy] | None = None,
    parser: DocumentParser | None = None,
    triggers: Triggers | None = None,
    tuning: AgentSettings | None = None,
    tools: ToolRegistry | None = None,
    counter: TokenCounter | None = None,
    checkins: CheckinService | None = None,
) -> Service:
    """Build everything from open ports: nothing is started, nothing is read or sent.

    ``replies``: where the agent's messages go (None: to the platform adapters attached
    later). ``policies``: the operator's policy per platform. For tests: ``tuning`` sets what
    the settings do not expose, ``tools`` replaces the tool set, ``counter`` the tokenizer,
    and ``checkins`` is a check-in service the test drives itself."""
    clock = clock or SystemClock()
    ids = ids or RandomIds()
    counter = counter or token_counter(settings)
    router = ReplyRouter() if replies is None else None
    if router is not None:
        # the OpenAI-compatible endpoint's agents, on any replica: the request waiting for
        # the turn reads their replies from storage
        router.register(OPENAI_PLATFORM, StoredReplies())
    dispatcher: AgentDispatcher | None = None

    async def submit(events: Sequence[Event]) -> list[bool]:
        assert dispatcher is not None, "check-ins fire only once the service is up"
        return await dispatcher.submit_many(events)

    if checkins is None and settings.checkins:
        triggers = triggers or checkin_triggers()
        checkins = CheckinService(
            store=storage.checkins,
            triggers=triggers,
            clock=clock,
            submit=submit,
            owner=settings.worker_name,
            policy=checkin_policy(settings, triggers),
            ids=ids,
        )
    if tools is None:
        tools = tool_registry(settings)
        if checkins is not None:
            register_checkin_tools(tools)
    feed = StepFeed(observer)
    runtime = AgentRuntime(
        model=model,
        agents=storage.agents,
        recall=storage.recall,
        archival=storage.archival,
        tools=tools,
        prompts=prompt_texts(settings),
        counter=counter,
        clock=clock,
        replies=replies or router or ReplyRouter(),
        settings=tuning or agent_settings(settings),
        embedder=embedder,
        observer=feed,
        leases=storage.leases,
        checkins=checkins,
        inbox=storage.inbox,
        on_turn_end=feed.turn_ended,
        system_texts=storage.system_texts,
        edits=storage.memory_edits,
    )
    dispatcher = AgentDispatcher(
        runtime.handle,
        inbox=storage.inbox,
        leases=storage.leases,
        signals=storage.signals,
        forget=runtime.forget,
        give_up=runtime.give_up,
        max_concurrent_turns=settings.max_concurrent_turns,
        poll_interval=settings.inbox_poll_seconds,
        inbox_retention=timedelta(days=settings.inbox_retention_days),
    )
    commands = CommandHandler(
        agents=storage.agents,
        recall=storage.recall,
        archival=storage.archival,
        inbox=storage.inbox,
        clock=clock,
        embedder=embedder,
        timezone=settings.timezone,
        forget=runtime.forget,
        checkins=checkins,
        edits=storage.memory_edits,
    )
    intakes = PlatformIntakes()
    gateway = Gateway(
        dispatcher=dispatcher,
        commands=commands,
        policies=policies or {},
        clock=clock,
        uploads=intakes,
    )
    pipeline = UploadPipeline(
        archival=storage.archival,
        parser=parser or document_parser(),
        counter=counter,
        clock=clock,
        notify=dispatcher.submit,
        embedder=embedder,
        settings=upload_settings(settings),
    )
    return Service(
        settings=settings,
        storage=storage,
        clock=clock,
        counter=counter,
        embedder=embedder,
        checkins=checkins,
        runtime=runtime,
        dispatcher=dispatcher,
        commands=commands,
        gateway=gateway,
        uploads=pipeline,
        intakes=intakes,
        replies=router,
        feed=feed,
    )


@asynccontextmanager
async def bootstrap(
    settings: Settings,
    *,
    replies: ReplySink | None = None,
    model: ChatModel | None = None,
    storage: Storage | None = None,
    clock: Clock | None = None,
    ids: IdSource | None = None,
    observer: TurnObserver | None = None,
    policies: Mapping[str, PlatformPolicy] | None = None,
    tuning: AgentSettings | None = None,
) -> AsyncIterator[Service]:
    """Pagemind wired and started: the model server checked, the stores open (interrupted
    uploads cleaned up), the dispatcher taking events, check-ins firing. Closed in reverse
    order on exit. Ports not given are opened from the settings."""
    async with AsyncExitStack() as stack:
        clock = clock or SystemClock()
        ids = ids or RandomIds()
        checked = None
        if model is None:
            checked = chat_model(settings)
            stack.push_async_callback(checked.aclose)
            model = checked
        if storage is None:
            storage = await open_storage(settings, clock, stack, ids)
        await recover_uploads(settings, storage, clock)
        svc = wire(
            settings,
            storage=storage,
            model=model,
            replies=replies,
            clock=clock,
            ids=ids,
            embedder=await embedder(settings, stack),
            observer=observer,
            policies=policies,
            tuning=tuning,
        )
        if checked is not None and settings.llm_check:
            # After every setting that needs no network is checked: one call, one clear line.
            await checked.check()
        stack.push_async_callback(svc.intakes.aclose)
        stack.push_async_callback(svc.dispatcher.drain)
        await svc.dispatcher.start()
        if svc.checkins is not None:
            background = BackgroundTasks()
            stack.push_async_callback(background.aclose)
            background.spawn(
                svc.checkins.keep_firing(settings.checkin_poll_seconds), name="checkins"
            )
        yield svc


async def recover_uploads(settings: Settings, storage: Storage, clock: Clock) -> int:
    """Clean up uploads a crash interrupted; returns how many."""
    stale = timedelta(seconds=settings.upload_stale_seconds)
    return await storage.archival.recover_documents(clock.now() - stale)


@dataclass
class Ingestion:
    """``pagemind ingest``: the stores and the upload pipeline, no model."""

    storage: Storage
    pipeline: UploadPipeline
    repaired: int  # interrupted uploads cleaned up at start


@asynccontextmanager
async def ingestion(settings: Settings) -> AsyncIterator[Ingestion]:
    """Files are loaded as a chat upload is (same tokenizer, chunks and embedder); each
    agent's upload event is recorded in the inbox and its worker, if one runs, is rung."""
    clock = SystemClock()
    async with AsyncExitStack() as stack:
        storage = await open_storage(settings, clock, stack, RandomIds())
        repaired = await recover_uploads(settings, storage, clock)

        async def notify(event: Event) -> bool:
            """Record the agent's upload event; a running worker is rung to take it now
            (otherwise it is read at its next inbox poll, or at the next start)."""
            fresh = await storage.inbox.put(event)
            if fresh:
                await storage.leases.nudge(event.agent_key)
            return fresh

        pipeline = UploadPipeline(
            archival=storage.archival,
            parser=document_parser(),
            counter=token_counter(settings),
            clock=clock,
            notify=notify,
            embedder=await embedder(settings, stack),
            settings=upload_settings(settings),
        )
        yield Ingestion(storage, pipeline, repaired)


@asynccontextmanager
async def stores(settings: Settings) -> AsyncIterator[Storage]:
    """``pagemind usage``: the configured stores alone."""
    async with AsyncExitStack() as stack:
        yield await open_storage(settings, SystemClock(), stack, RandomIds())
