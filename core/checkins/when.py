"""A schedule from the words a model or a user gives."""

from __future__ import annotations

import re
from datetime import datetime

from core.checkins.values import Schedule
from core.clock import zone
from core.errors import ToolError

_INTERVAL = re.compile(r"^\s*(\d+)\s*(m|min|h|d|w)\s*$", re.I)


_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(
    *, at: str | None, every: str | None, cron: str | None, timezone: str, now: datetime
) -> Schedule:
    """A schedule from the words a model or a user gives: exactly one of the three."""
    given = [name for name, value in (("at", at), ("every", every), ("cron", cron)) if value]
    if len(given) != 1:
        raise ToolError("Give exactly one of: at (YYYY-MM-DD HH:MM), every (like 1d), cron.")
    if at:
        try:
            local = datetime.strptime(at.strip(), "%Y-%m-%d %H:%M")
        except ValueError as exc:
            raise ToolError(f"at must look like 2026-12-01 09:30, not {at!r}.") from exc
        return Schedule(kind="once", at=local.replace(tzinfo=zone(timezone)))
    if every:
        match = _INTERVAL.match(every)
        if not match:
            raise ToolError(f"every must look like 30m, 12h, 1d or 1w, not {every!r}.")
        seconds = int(match.group(1)) * _UNITS[match.group(2).lower()]
        if seconds < 300:
            raise ToolError("The shortest interval is 5 minutes.")
        return Schedule(kind="interval", every_seconds=seconds, start=now)
    assert cron is not None
    return Schedule(kind="cron", cron=" ".join(cron.split()))
