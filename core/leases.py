"""Leases for a worker that is alone on its database (the in-process default)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class SoleWorkerLeases:
    """Grants every lease: nobody else runs agents on this database."""

    has_peers = False

    async def acquire(self, agent_key: str) -> bool:
        return True

    async def release(self, agent_key: str) -> None:
        return None

    def holds(self, agent_key: str) -> bool:
        return True

    async def maintain(self, on_lost: Callable[[list[str]], None]) -> None:
        await asyncio.Event().wait()
