"""Build a running Pagemind from settings: the one place where adapters are chosen and wired."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from adapters.openai_compatible.chat import OpenAICompatibleChatModel
from adapters.openai_compatible.embeddings import OpenAICompatibleEmbedder
from adapters.scheduling.triggers import ApschedulerTriggers
from bots.storage import Storage, open_storage
from config.prompts import read
from config.settings import Settings
from core.agent import AgentRuntime, AgentSettings, TurnOutcome
from core.checkins import CheckinPolicy, CheckinService, QuietHours, Schedule
from core.clock import SystemClock, zone
from core.context import PromptTexts
from core.dispatch import AgentDispatcher
from core.errors import ConfigurationError, LeaseLostError
from core.events import Event, OperatorChangeRequested, TimerFired
from core.inbound import is_group_agent
from core.llm import ChatModel
from core.operator.changes import ChangeApplier
from core.ports import Embedder, ReplySink, TurnObserver
from core.records import AgentState
from core.tasks import BackgroundTasks
from core.text import valid_text
from core.tokens import TokenCounter
from core.tools.checkin_tools import register_checkin_tools
from core.tools.memgpt import register_memgpt_tools
from core.tools.registry import ToolRegistry


@dataclass
class Service:
    settings: Settings
    runtime: AgentRuntime
    dispatcher: AgentDispatcher
    storage: Storage
    clock: SystemClock
    counter: TokenCounter
    embedder: Embedder | None
    checkins: CheckinService | None


def agent_settings(settings: Settings) -> AgentSettings:
    zone(settings.timezone)  # fail early on an unknown zone
    return AgentSettings(
        context_window=settings.window,
        reply_tokens=settings.reply_tokens,
        warning_fraction=settings.warning_threshold,
        keep_fraction=settings.flush_target,
        max_steps=settings.max_chain_steps,
        block_limit=settings.block_limit,
        summary_tokens=settings.summary_tokens,
        timezone=settings.timezone,
        daily_token_budget=settings.daily_token_budget,
        checkin_quiet_after_activity=settings.checkin_skip_if_active_minutes * 60,
    )


def prompt_texts(settings: Settings) -> PromptTexts:
    persona = settings.persona
    if settings.persona_file is not None:
        try:
            persona = settings.persona_file.read_text("utf-8", errors="replace").strip()
        except OSError as exc:
            raise ConfigurationError(
                f"PAGEMIND_PERSONA_FILE: cannot read {settings.persona_file}: {exc}"
            ) from exc
    return PromptTexts(
        system=read("system"),
        summarize=read("summarize"),
        persona=valid_text(persona) if persona is not None else read("persona"),
        human=valid_text(settings.human) if settings.human is not None else read("human"),
    )


def tool_registry(settings: Settings) -> ToolRegistry:
    registry = register_memgpt_tools(ToolRegistry())
    for spec in settings.tools:
        module_name, _, attr = spec.partition(":")
        try:
            func = getattr(importlib.import_module(module_name), attr)
            registry.register(func)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigurationError(
                f"PAGEMIND_TOOLS: cannot use {spec!r} as a tool ('module:function'): {exc}"
            ) from exc
    return registry


async def embedder(settings: Settings, stack: AsyncExitStack) -> Embedder | None:
    """The configured embedder: none (word search only), "local" (all-MiniLM-L6-v2 on this
    machine, needs the ``local-embeddings`` extra), or a model behind an OpenAI-compatible
    ``/v1/embeddings`` (by default the LLM's endpoint and key)."""
    model = settings.embedding_model
    if model is None:
        return None
    if model == "local":
        from adapters.local_embeddings.minilm import LocalMiniLMEmbedder

        local = LocalMiniLMEmbedder()
        stack.push_async_callback(local.aclose)
        return local
    key = settings.embedding_api_key or settings.llm_api_key
    remote = OpenAICompatibleEmbedder(
        model=model,
        api_key=key.get_secret_value() if key else "not-needed",
        base_url=settings.embedding_base_url or settings.llm_base_url,
        timeout=settings.llm_timeout,
        max_retries=settings.llm_max_retries,
        dimensions=settings.embedding_dimensions,
    )
    stack.push_async_callback(remote.aclose)
    return remote


def chat_model(settings: Settings) -> OpenAICompatibleChatModel:
    if not settings.llm_configured:
        raise ConfigurationError("no LLM configured")
    return OpenAICompatibleChatModel(
        model=settings.model_name,
        api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed",
        base_url=settings.llm_base_url,
        timeout=settings.llm_timeout,
        max_retries=settings.llm_max_retries,
        temperature=settings.llm_temperature,
    )


@asynccontextmanager
async def build_service(
    settings: Settings,
    *,
    replies: ReplySink,
    observer: TurnObserver | None = None,
    model: ChatModel | None = None,
) -> AsyncIterator[Service]:
    """Everything wired and started; closed in reverse order on exit."""
    async with AsyncExitStack() as stack:
        llm: OpenAICompatibleChatModel | None = None
        if model is None:
            llm = chat_model(settings)
            stack.push_async_callback(llm.aclose)
            model = llm
        clock = SystemClock()
        storage = await open_storage(settings, clock, stack)
        await storage.archival.recover_documents(
            clock.now() - timedelta(seconds=settings.upload_stale_seconds)
        )
        counter = TokenCounter(settings.model_name)
        vectors = await embedder(settings, stack)
        dispatcher: AgentDispatcher | None = None

        async def submit(events: Sequence[Event]) -> list[bool]:
            assert dispatcher is not None, "check-ins fire only once the service is up"
            return await dispatcher.submit_many(events)

        checkins = checkin_service(settings, storage, clock, submit)
        tools = tool_registry(settings)
        if checkins is not None:
            register_checkin_tools(tools)
        runtime = AgentRuntime(
            model=model,
            agents=storage.agents,
            recall=storage.recall,
            archival=storage.archival,
            tools=tools,
            prompts=prompt_texts(settings),
            counter=counter,
            clock=clock,
            replies=replies,
            settings=agent_settings(settings),
            observer=observer,
            fence=_fence(storage),
            embedder=vectors,
            checkins=checkins,
            on_reachable=default_checkin(settings, checkins),
            inbox=storage.inbox,
        )

        if llm is not None and settings.llm_check:
            # After every setting that needs no network is checked: one call, one clear line.
            await llm.check()

        changes = ChangeApplier(storage.agents, fence=_fence(storage), forget=runtime.forget)

        async def handle(event: Event) -> TurnOutcome:
            if isinstance(event, OperatorChangeRequested):  # no model call, no message
                await changes.apply(event)
                return TurnOutcome(event.event_id, 0)
            outcome = await runtime.handle(event)
            if isinstance(event, TimerFired):
                await storage.checkins.record_tokens(
                    event.checkin_id, outcome.tokens, outcome.skipped
                )
            return outcome

        dispatcher = AgentDispatcher(
            handle,
            inbox=storage.inbox,
            leases=storage.leases,
            signals=storage.signals,
            forget=runtime.forget,
            give_up=_give_up(runtime),
            max_concurrent_turns=settings.max_concurrent_turns,
            poll_interval=settings.inbox_poll_seconds,
            inbox_retention=timedelta(days=settings.inbox_retention_days),
        )
        stack.push_async_callback(dispatcher.drain)
        await dispatcher.start()
        if checkins is not None:
            background = BackgroundTasks()
            stack.push_async_callback(background.aclose)
            background.spawn(checkins.keep_firing(settings.checkin_poll_seconds), name="checkins")
        yield Service(settings, runtime, dispatcher, storage, clock, counter, vectors, checkins)


def checkin_service(
    settings: Settings,
    storage: Storage,
    clock: SystemClock,
    submit: Callable[[Sequence[Event]], Awaitable[list[bool]]],
) -> CheckinService | None:
    if not settings.checkins:
        return None
    triggers = ApschedulerTriggers()
    quiet = settings.checkin_quiet_hours
    try:
        quiet_hours = QuietHours.parse(quiet) if quiet else None
        if settings.checkin_default_cron:
            default = Schedule(kind="cron", cron=settings.checkin_default_cron)
            triggers.validate(default, settings.timezone)
    except ValueError as exc:
        raise ConfigurationError(f"PAGEMIND_CHECKIN_*: {exc}") from exc
    return CheckinService(
        store=storage.checkins,
        triggers=triggers,
        clock=clock,
        submit=submit,
        owner=settings.worker_name,
        policy=CheckinPolicy(
            grace=timedelta(minutes=settings.checkin_grace_minutes),
            lease=timedelta(seconds=settings.checkin_claim_seconds),
            quiet_hours=quiet_hours,
        ),
    )


def default_checkin(
    settings: Settings, checkins: CheckinService | None
) -> Callable[[AgentState], Awaitable[None]] | None:
    """The operator's check-in for every one-to-one agent (not group agents), created when
    the agent first has a conversation to write to, and addressed to it."""
    cron = settings.checkin_default_cron
    if checkins is None or not cron:
        return None

    async def create(state: AgentState) -> None:
        if is_group_agent(state.agent_key):
            return
        digest = hashlib.sha1(state.agent_key.encode()).hexdigest()[:12]
        await checkins.schedule(
            state.agent_key,
            settings.checkin_default_note,
            Schedule(kind="cron", cron=cron),
            timezone=state.timezone,
            created_by="operator",
            address=state.home,
            checkin_id=f"default-{digest}",
        )

    return create


def _give_up(runtime: AgentRuntime) -> Callable[[Event, str], Awaitable[None]]:
    """An event that failed every attempt: the person is told, unless it was an operator's
    change (the operator's request already answered with the failure)."""

    async def give_up(event: Event, error: str) -> None:
        if not isinstance(event, OperatorChangeRequested):
            await runtime.give_up(event, error)

    return give_up


def _fence(storage: Storage) -> Callable[[str], None]:
    """Refuse to write for an agent whose lease this worker no longer safely holds."""

    def check(agent_key: str) -> None:
        if not storage.leases.holds(agent_key):
            raise LeaseLostError(f"this worker no longer holds the lease of {agent_key!r}")

    return check
