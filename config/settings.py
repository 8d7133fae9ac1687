"""Pagemind's settings: environment variables ``PAGEMIND_*``, a ``.env`` file, defaults.

Every field's environment variable is its name upper-cased with the ``PAGEMIND_`` prefix
(``context_window`` -> ``PAGEMIND_CONTEXT_WINDOW``). The LLM also accepts the standard
``OPENAI_API_KEY`` and ``OPENAI_BASE_URL``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from platformdirs import user_data_path
from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PAGEMIND_"

_LARGE_CONTEXT_MODELS = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "gpt-4-turbo")


class SettingsError(Exception):
    """A setting is missing or invalid; the message names the variable to set."""


class ModelPrice(BaseModel):
    """A model's price per million tokens."""

    prompt: float = Field(ge=0)
    completion: float = Field(ge=0)
    cached_prompt: float | None = Field(None, ge=0)  # the prompt price when not given


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- the language model ------------------------------------------------------------
    llm_base_url: str | None = Field(
        None, validation_alias=AliasChoices("PAGEMIND_LLM_BASE_URL", "OPENAI_BASE_URL")
    )
    llm_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("PAGEMIND_LLM_API_KEY", "OPENAI_API_KEY")
    )
    llm_model: str | None = None
    llm_timeout: float = Field(60.0, gt=0)
    llm_max_retries: int = Field(3, ge=0, le=10)
    llm_temperature: float | None = Field(None, ge=0, le=2)
    llm_check: bool = True  # one call at start: key, model and server checked (see README)

    # --- embeddings (semantic archival search; word search works without) --------------
    embedding_model: str | None = None
    embedding_base_url: str | None = None
    embedding_api_key: SecretStr | None = None
    embedding_dimensions: int | None = Field(None, ge=1)

    # --- main context and memory -------------------------------------------------------
    context_window: int | None = Field(None, ge=2048)
    reply_tokens: int = Field(1024, ge=64)
    warning_threshold: float = Field(0.70, gt=0, lt=1)
    flush_target: float = Field(0.50, gt=0, lt=1)
    max_chain_steps: int = Field(10, ge=1, le=100)
    daily_token_budget: int | None = Field(None, ge=1)  # per agent, UTC day
    block_limit: int = Field(2000, ge=100)
    summary_tokens: int = Field(1024, ge=64)
    timezone: str = "UTC"
    persona: str | None = None
    persona_file: Path | None = None
    human: str | None = None
    tools: list[str] = Field(default_factory=list)

    # --- storage ---------------------------------------------------------------------------
    storage: Literal["mongodb", "memory"] = "mongodb"
    mongodb_uri: SecretStr | None = None
    mongodb_database: str = "pagemind"
    data_dir: Path = Field(default_factory=lambda: user_data_path("pagemind"))
    lease_ttl: float = Field(15.0, ge=1)
    worker_name: str | None = None  # names this process in leases and check-in claims
    inbox_poll_seconds: float = Field(2.0, gt=0)
    inbox_retention_days: float = Field(7.0, gt=0)

    # --- check-ins -----------------------------------------------------------------------
    checkins: bool = True
    checkin_poll_seconds: float = Field(30.0, gt=0)
    checkin_default_cron: str | None = None  # e.g. "0 9 * * *": a check-in for every user
    checkin_default_note: str = (
        "Morning check-in: if there is something worth saying to the user (a follow-up, a "
        "reminder), say it briefly; otherwise stay silent."
    )
    checkin_quiet_hours: str | None = None  # e.g. "22:00-08:00", in each user's time zone
    checkin_grace_minutes: float = Field(60.0, ge=0)  # older when found (outage): dropped
    checkin_skip_if_active_minutes: float = Field(30.0, ge=0)
    checkin_claim_seconds: float = Field(30.0, ge=1)  # a crashed claimer's check-ins wait this

    # --- uploads -------------------------------------------------------------------------
    max_upload_mb: float = Field(20.0, gt=0)
    upload_stale_seconds: float = Field(180.0, gt=0)  # a load silent this long is dead

    # --- the operator API (served by ``pagemind run``) ---------------------------------------
    api_listen: str = "127.0.0.1"  # 0.0.0.0 to reach it from other machines (put TLS in front)
    api_port: int = Field(8080, ge=0, le=65535)  # 0: any free port (the log says which)
    api_max_body_kb: int = Field(1024, ge=1)  # JSON bodies; uploads: MAX_UPLOAD_MB
    api_requests_per_minute: int = Field(600, ge=1)  # per key and process
    api_write_wait_seconds: float = Field(30.0, gt=0)  # a change waits this long for its agent
    api_chat_wait_seconds: float = Field(120.0, gt=0)  # /v1/chat/completions waits for a turn
    # USD (or any currency) per million tokens, per model: {"gpt-4o-mini": {"prompt": 0.15,
    # "cached_prompt": 0.075, "completion": 0.6}}; usage shows no cost for a model not listed
    prices: dict[str, ModelPrice] = Field(default_factory=dict)

    # --- running ---------------------------------------------------------------------------
    max_concurrent_turns: int = Field(8, ge=1)
    shutdown_grace_seconds: float = Field(60.0, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator(
        "llm_base_url", "llm_model", "embedding_model", "embedding_base_url", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def llm_configured(self) -> bool:
        return self.llm_api_key is not None or self.llm_base_url is not None

    @property
    def model_name(self) -> str:
        if self.llm_model:
            return self.llm_model
        if self.llm_base_url is None:
            return "gpt-4o-mini"
        raise SettingsError(
            f"{ENV_PREFIX}LLM_MODEL is not set: name the model your server at "
            f"{self.llm_base_url} serves, e.g. {ENV_PREFIX}LLM_MODEL=llama3.1:8b"
        )

    @property
    def window(self) -> int:
        """The context window to manage: as set, or a safe default for the model."""
        if self.context_window:
            return self.context_window
        name = self.model_name.rsplit("/", 1)[-1].lower()
        return 32_768 if name.startswith(_LARGE_CONTEXT_MODELS) else 8_192


NO_LLM_MESSAGE = f"""\
No language model is configured. Pagemind talks to any OpenAI-compatible endpoint.

  OpenAI:
    export OPENAI_API_KEY=sk-...              (or {ENV_PREFIX}LLM_API_KEY)
    export {ENV_PREFIX}LLM_MODEL=gpt-4o-mini         (optional; this is the default)

  A local server (Ollama, vLLM, llama.cpp, LM Studio):
    export {ENV_PREFIX}LLM_BASE_URL=http://localhost:11434/v1   (Ollama; vLLM: http://localhost:8000/v1)
    export {ENV_PREFIX}LLM_MODEL=llama3.1:8b
    export {ENV_PREFIX}CONTEXT_WINDOW=8192           (the context size your server runs with)

The same variables can go in a .env file in the current directory."""


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning validation errors into one readable ``SettingsError``."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False):
            name = ENV_PREFIX + "_".join(str(p) for p in error["loc"]).upper()
            lines.append(f"  {name}={error.get('input')!r}: {error['msg']}")
        raise SettingsError("Invalid settings:\n" + "\n".join(lines)) from None
