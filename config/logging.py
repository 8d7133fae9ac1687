"""Logging set-up: one line per record, with the agent and event it concerns when known.

Libraries log message bodies, request bodies and URLs with tokens at INFO and below, and some
set their loggers' levels themselves (slack-bolt copies the root level onto every logger it
creates), so a level set on their loggers cannot be relied on. The handler itself lets
their records through only at WARNING and above, or at DEBUG when the operator asked for it.
"""

from __future__ import annotations

import logging

# httpx logs request URLs, Telegram's include the bot token; slack-bolt logs refused request
# bodies (user text) at INFO.
LIBRARIES = (
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
    "uvicorn",  # the access log: client addresses and paths (never headers, so never a key)
)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        parts = []
        for key in ("agent_key", "event_id"):
            value = getattr(record, key, None)
            if value:
                parts.append(f"{key.split('_')[0]}={value}")
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return True


class _LibraryFilter(logging.Filter):
    """Drop a library's records below ``threshold``, whatever its loggers' levels say."""

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= self.threshold:
            return True
        name = record.name
        return not any(name == lib or name.startswith(f"{lib}.") for lib in LIBRARIES)


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    threshold = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    handler.addFilter(_LibraryFilter(threshold))
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s")
    )
    for library in LIBRARIES:
        logging.getLogger(library).setLevel(max(logging.WARNING, root.level))
