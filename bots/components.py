"""The parts the composition root assembles, each chosen from the settings: the model and
embedder adapters, the tokenizer, the agents' tuning and prompts, the tools, check-ins and
uploads. One function per choice, so every running shape makes it the same way."""

from __future__ import annotations

import importlib
from contextlib import AsyncExitStack
from datetime import timedelta

from adapters.openai_compatible.chat import OpenAICompatibleChatModel
from adapters.openai_compatible.embeddings import OpenAICompatibleEmbedder
from adapters.scheduling.triggers import ApschedulerTriggers
from config.prompts import read
from config.settings import Settings
from core.checkins.values import CheckinPolicy, QuietHours, Schedule
from core.clock import zone
from core.context.layout import PromptTexts
from core.context.tokens import TokenCounter
from core.errors import ConfigurationError
from core.operator.chat import PLATFORM as OPENAI_PLATFORM
from core.ports import DocumentParser, Embedder, Triggers
from core.ports.uploads import ParsedDocument
from core.text import valid_text
from core.tools.memgpt import register_memgpt_tools
from core.tools.registry import ToolRegistry
from core.turn.settings import AgentSettings
from core.uploads.pipeline import UploadSettings


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


def token_counter(settings: Settings) -> TokenCounter:
    """The one choice of tokenizer: the configured model's own (exact for OpenAI's models),
    so a file cut into passages by ``pagemind ingest`` is cut as a chat upload is. Commands
    that need no model (``ingest``) count as gpt-4o-mini when none is named."""
    return TokenCounter(settings.llm_model or "gpt-4o-mini")


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


async def embedder(settings: Settings, stack: AsyncExitStack) -> Embedder | None:
    """The configured embedder: none (word search only), "local" (all-MiniLM-L6-v2 on this
    machine, needs the ``local-embeddings`` extra), or a model behind an OpenAI-compatible
    ``/v1/embeddings`` (by default the LLM's endpoint and key). Closed when ``stack`` ends."""
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


def document_parser() -> DocumentParser:
    """Bytes and a file name in, text sections out. The parsers (pypdf, python-docx, lxml,
    charset-normalizer: about 30 MiB resident) are imported by the first upload, not when
    the service is wired: a ``pagemind chat`` that never receives a file never holds them."""

    def parse(
        data: bytes, filename: str, *, max_bytes: int, mime: str | None = None
    ) -> ParsedDocument:
        from adapters.documents import parse_document

        return parse_document(data, filename, max_bytes=max_bytes, mime=mime)

    return parse


def checkin_triggers() -> Triggers:
    return ApschedulerTriggers()


def checkin_policy(settings: Settings, triggers: Triggers) -> CheckinPolicy:
    """Check-ins as the operator set them: grace, claims, quiet hours and the default
    check-in of every one-to-one agent (checked here, so a bad setting stops the start)."""
    quiet = settings.checkin_quiet_hours
    try:
        quiet_hours = QuietHours.parse(quiet) if quiet else None
        if settings.checkin_default_cron:
            default = Schedule(kind="cron", cron=settings.checkin_default_cron)
            triggers.validate(default, settings.timezone)
    except ValueError as exc:
        raise ConfigurationError(f"PAGEMIND_CHECKIN_*: {exc}") from exc
    return CheckinPolicy(
        grace=timedelta(minutes=settings.checkin_grace_minutes),
        lease=timedelta(seconds=settings.checkin_claim_seconds),
        quiet_hours=quiet_hours,
        default_cron=settings.checkin_default_cron,
        default_note=settings.checkin_default_note,
        unreachable_platforms=frozenset({OPENAI_PLATFORM}),
    )


def upload_settings(settings: Settings) -> UploadSettings:
    return UploadSettings(
        max_bytes=int(settings.max_upload_mb * 2**20),
        stale_after=settings.upload_stale_seconds,
    )
