"""Logging set-up: one line per record, with the agent and event it concerns when known."""

from __future__ import annotations

import logging


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        parts = []
        for key in ("agent_key", "event_id"):
            value = getattr(record, key, None)
            if value:
                parts.append(f"{key.split('_')[0]}={value}")
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return True


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_ContextFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    noisy_libraries = (
        "httpx",
        "httpx2",
        "httpcore",
        "httpcore2",
        "openai",
        "pymongo",
        "asyncio",
        "slack_bolt",
        "slack_sdk",
        "telegram",
        "discord",
        "aiohttp.access",
        "apscheduler",
    )  # fmt: skip  (httpx logs request URLs, Telegram's include the bot token)
    for noisy in noisy_libraries:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
