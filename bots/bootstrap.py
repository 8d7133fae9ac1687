"""Build a running Pagemind from settings: the one place where adapters are chosen and wired."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from adapters.inmemory import (
    InMemoryAgentStore,
    InMemoryArchivalStore,
    InMemoryInbox,
    InMemoryRecallStore,
)
from adapters.llm.openai_compatible import OpenAICompatibleChatModel
from config.prompts import read
from config.settings import Settings
from core.agent import AgentRuntime, AgentSettings
from core.clock import SystemClock, zone
from core.context import PromptTexts
from core.dispatch import AgentDispatcher
from core.errors import ConfigurationError
from core.llm import ChatModel
from core.ports import ReplySink, TurnObserver
from core.tokens import TokenCounter
from core.tools.memgpt import register_memgpt_tools
from core.tools.registry import ToolRegistry


@dataclass
class Service:
    settings: Settings
    runtime: AgentRuntime
    dispatcher: AgentDispatcher
    clock: SystemClock


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
    )


def prompt_texts(settings: Settings) -> PromptTexts:
    persona = settings.persona
    if settings.persona_file is not None:
        try:
            persona = settings.persona_file.read_text("utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(
                f"PAGEMIND_PERSONA_FILE: cannot read {settings.persona_file}: {exc}"
            ) from exc
    return PromptTexts(
        system=read("system"),
        summarize=read("summarize"),
        persona=persona if persona is not None else read("persona"),
        human=settings.human if settings.human is not None else read("human"),
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
        if model is None:
            llm = chat_model(settings)
            stack.push_async_callback(llm.aclose)
            model = llm
        clock = SystemClock()
        runtime = AgentRuntime(
            model=model,
            agents=InMemoryAgentStore(),
            recall=InMemoryRecallStore(),
            archival=InMemoryArchivalStore(),
            tools=tool_registry(settings),
            prompts=prompt_texts(settings),
            counter=TokenCounter(settings.model_name),
            clock=clock,
            replies=replies,
            settings=agent_settings(settings),
            observer=observer,
        )
        dispatcher = AgentDispatcher(
            runtime.handle,
            inbox=InMemoryInbox(),
            max_concurrent_turns=settings.max_concurrent_turns,
        )
        stack.push_async_callback(dispatcher.drain)
        await dispatcher.recover()
        yield Service(settings, runtime, dispatcher, clock)
