"""Leases: who holds an agent, and the stand-ins for a worker alone on its database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LeaseHolder:
    """Another worker that runs an agent, as this one last saw its lease."""

    worker: str
    where: str  # the holder's process, for people ("pid 4242 on host-1"), or ""
    expires_in: float  # seconds until its lease runs out unless renewed (when it was read)
    running: bool | None  # whether its process still runs, where this one can tell


class SoleWorkerLeases:
    """Grants every lease: nobody else runs agents on this database."""

    has_peers = False

    async def introduce(self) -> None:
        return None

    async def acquire(self, agent_key: str) -> bool:
        return True

    async def release(self, agent_key: str) -> None:
        return None

    def holds(self, agent_key: str) -> bool:
        return True

    def holder(self, agent_key: str) -> LeaseHolder | None:
        return None

    async def nudge(self, agent_key: str) -> None:
        return None

    async def maintain(
        self, on_lost: Callable[[list[str]], None], on_peer_gone: Callable[[], None]
    ) -> None:
        await asyncio.Event().wait()


class NoSignals:
    """Nothing to listen for: no other process records events on this database."""

    async def listen(self, arrived: Callable[[Sequence[str], bool], None]) -> None:
        await asyncio.Event().wait()

    def complete(self) -> bool:
        return True
