"""Stand-ins for a worker alone on its database: every lease is granted, no signal comes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from core.ports.workers import LeaseHolder


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
