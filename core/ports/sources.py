"""Where the core gets the time and fresh ids (tests pass ones they control)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class IdSource(Protocol):
    def new_id(self) -> str:
        """A fresh random id: 32 lowercase hex digits, never drawn before."""
        ...
