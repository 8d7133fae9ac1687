"""Time: the clock port's default implementation and how times are shown to the model."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ConfigurationError


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin'"
        ) from exc


def stamp(moment: datetime, tz: ZoneInfo) -> str:
    """A short, unambiguous local time for the model: 'Sat 2026-11-21 20:10 CET'."""
    return moment.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z")
