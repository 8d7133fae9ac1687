"""What a turn's trace needs stored beside the messages: each distinct system text once,
by its SHA-256 (the messages' traces name it)."""

from __future__ import annotations

from typing import Protocol


class SystemTexts(Protocol):
    async def put(self, sha256: str, text: str) -> None:
        """Keep ``text`` under its hash (again: no change)."""
        ...

    async def get(self, sha256: str) -> str | None: ...
