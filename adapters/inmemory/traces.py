"""System texts in this process's memory (gone on exit)."""

from __future__ import annotations


class InMemorySystemTexts:
    def __init__(self) -> None:
        self._texts: dict[str, str] = {}
        self.puts = 0  # writes that reached the store (tests count them)

    async def put(self, sha256: str, text: str) -> None:
        self.puts += 1
        self._texts.setdefault(sha256, text)

    async def get(self, sha256: str) -> str | None:
        return self._texts.get(sha256)
