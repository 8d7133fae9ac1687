"""A bounded memory of recently seen ids, to drop Slack's redeliveries of one event."""

from __future__ import annotations

from collections import OrderedDict


class RecentIds:
    """Remembers the last ``capacity`` ids. :meth:`first_time` is true once per id.

    This only catches a redelivery that reaches the same process (Socket Mode, or HTTP behind
    a sticky load balancer). The agent's inbox drops duplicate messages across replicas; this
    also covers commands and refusals, which never reach the inbox.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_time(self, key: str) -> bool:
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True

    def forget(self, key: str) -> None:
        """As if ``key`` had never been seen (its handling failed: a retry is welcome)."""
        self._seen.pop(key, None)
