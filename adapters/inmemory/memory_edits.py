"""The edit history of working-context blocks, in process memory."""

from __future__ import annotations

from collections.abc import Sequence

from core.context.edits import MemoryEdit


class InMemoryMemoryEditStore:
    def __init__(self) -> None:
        self._edits: dict[tuple[str, str, int], MemoryEdit] = {}

    async def record(self, edits: Sequence[MemoryEdit]) -> None:
        for edit in edits:
            self._edits[(edit.agent_key, edit.label, edit.version)] = edit

    async def page(
        self, agent_key: str, label: str, *, below: int | None, limit: int
    ) -> list[MemoryEdit]:
        found = [
            e
            for (agent, lbl, version), e in self._edits.items()
            if agent == agent_key and lbl == label and (below is None or version < below)
        ]
        return sorted(found, key=lambda e: e.version, reverse=True)[:limit]

    async def all(self, agent_key: str) -> list[MemoryEdit]:
        found = [e for (agent, _, _), e in self._edits.items() if agent == agent_key]
        return sorted(found, key=lambda e: (e.label, e.version))

    async def erase(self, agent_key: str, label: str | None = None) -> int:
        gone = [k for k in self._edits if k[0] == agent_key and (label is None or k[1] == label)]
        for k in gone:
            del self._edits[k]
        return len(gone)
