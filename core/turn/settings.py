"""How an agent's turns are run: the context window and its shares, the chain's step cap,
paging, caching and the daily budget."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AgentSettings:
    context_window: int = 128_000
    reply_tokens: int = 1024
    warning_fraction: float = 0.70
    keep_fraction: float = 0.50
    max_steps: int = 10
    block_limit: int = 2000
    page_size: int = 5
    summary_tokens: int = 1024
    max_message_fraction: float = 0.25
    context_retries: int = 2
    timezone: str = "UTC"
    session_cache: int = 1000
    cache_idle_seconds: float = 600.0
    daily_token_budget: int | None = None
    checkin_quiet_after_activity: float = 1800.0  # skip a check-in this soon after the user spoke

    @property
    def flush_line(self) -> int:
        """A prompt (corrected count) above this many tokens is flushed before the call:
        the window less the reply's reserve."""
        return self.context_window - self.reply_tokens

    @property
    def warning_line(self) -> float:
        """Past this many tokens the agent is told, once per fill-up, to save what matters."""
        return self.warning_fraction * self.context_window
