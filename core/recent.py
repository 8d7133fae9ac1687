"""A bounded memory of ids seen lately: a platform's redeliveries of one event, the pieces
of a reply already sent. The last ``capacity`` ids are kept, the oldest forgotten first.

This is the first of the layers that keep a redelivered event from being handled twice
(see ``core.inbound.dispatch``): it catches a redelivery that reaches the same process, and
also covers what never reaches the inbox (commands, refusals, rate-limit answers).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class RecentIds:
    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[Hashable, None] = OrderedDict()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._seen

    def first_time(self, key: Hashable) -> bool:
        """Remember ``key``; True once per key (False if it was remembered already)."""
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True

    def forget(self, key: Hashable) -> None:
        """As if ``key`` had never been seen (its handling failed: a retry is welcome)."""
        self._seen.pop(key, None)
