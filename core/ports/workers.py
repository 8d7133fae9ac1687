"""Several processes on one database: who runs which agent, and how a worker hears of
events other processes recorded for it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class LeaseHolder:
    """Another worker that runs an agent, as this one last saw its lease."""

    worker: str
    where: str  # the holder's process, for people ("pid 4242 on host-1"), or ""
    expires_in: float  # seconds until its lease runs out unless renewed (when it was read)
    running: bool | None  # whether its process still runs, where this one can tell


class Leases(Protocol):
    """Which worker runs which agent, when several processes share one database.

    A worker runs an agent only while it holds the agent's lease; leases expire unless
    renewed, so a dead worker's agents are taken over once its leases run out, or at once by
    a worker that can see that the holder's process has gone (on the same machine).
    """

    @property
    def has_peers(self) -> bool:
        """Whether other live workers share the database (then order needs the inbox)."""
        ...

    async def introduce(self) -> None:
        """Announce this worker, and return once every live worker has seen it (so none
        trusts its own queue while this one records events for its agents)."""
        ...

    async def acquire(self, agent_key: str) -> bool:
        """Take the agent's lease if it is free, ours, expired, or held by a process known
        to have died. False if another worker holds it (see ``holder``)."""
        ...

    async def release(self, agent_key: str) -> None: ...

    def holds(self, agent_key: str) -> bool:
        """Whether this worker still safely holds the lease (not close to expiring)."""
        ...

    def holder(self, agent_key: str) -> LeaseHolder | None:
        """Who held the agent when ``acquire`` last failed for it."""
        ...

    async def nudge(self, agent_key: str) -> None:
        """Tell the agent's holder that events wait for it: a holder on this machine is rung
        at once, one elsewhere finds them itself; if nobody holds the agent, every worker on
        this machine is rung and one takes it."""
        ...

    async def maintain(
        self, on_lost: Callable[[list[str]], None], on_peer_gone: Callable[[], None]
    ) -> None:
        """Renew held leases and this worker's heartbeat until cancelled; report the leases
        found lost, and other workers found dead (their events are then free to take)."""
        ...


class InboxSignals(Protocol):
    """How a worker hears, without reading the inbox, that other processes recorded events.

    ``listen`` calls ``arrived(agent_keys, for_me)`` until it is cancelled: ``for_me`` when
    another process addressed this one as the holder of those agents, False for a broadcast
    of what was recorded anywhere. ``complete`` says whether every live worker can reach
    this one so; if not, the dispatcher reads the inbox often.
    """

    async def listen(self, arrived: Callable[[Sequence[str], bool], None]) -> None: ...

    def complete(self) -> bool: ...
