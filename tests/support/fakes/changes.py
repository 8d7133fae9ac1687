"""The change signal every fake's state gives: a waiter takes ``changed``, re-checks what it
waits for when that event is set, and takes the next one (each change sets a fresh event)."""

from __future__ import annotations

import asyncio


class Changes:
    def __init__(self) -> None:
        self._changed = asyncio.Event()

    @property
    def changed(self) -> asyncio.Event:
        """Set at the next change."""
        return self._changed

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
