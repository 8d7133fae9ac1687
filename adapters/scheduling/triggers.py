"""Check-in times computed by APScheduler's triggers (cron, dates, intervals, with zones).

Intervals of whole days or weeks are calendar intervals: "every 1d" from 09:00 stays at
09:00 local time across a DST change (APScheduler 3's ``IntervalTrigger`` would drift an
hour). Cron times missing on a spring-forward day fire at the equivalent instant.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.checkins.values import Schedule
from core.clock import zone

DAY = 86400


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab(expression: str, tz: tzinfo) -> CronTrigger:
    """A cron trigger with crontab's weekdays (0 or 7 = Sunday, 1 = Monday).

    APScheduler 3 counts weekday numbers from Monday = 0, so ``1-5`` would mean Tuesday to
    Saturday; numbers are translated to day names, which it reads as everyone expects."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"expected five fields, got {len(fields)}")
    fields[4] = _weekday_names(fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=tz)


def _weekday_names(field: str) -> str:
    if not any(ch.isdigit() for ch in field):
        return field  # "*", names ("mon-fri"): the same in both
    days: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            low, high = 0, 6
        elif "-" in base:
            low, high = (int(value) for value in base.split("-", 1))
        else:
            low = int(base)
            high = 7 if step_text else low  # "1/2": from Monday on, every second day
        if not 0 <= low <= high <= 7 or step < 1:
            raise ValueError(f"weekday {part!r} is out of range (0-7, 0 and 7 are Sunday)")
        days.update(day % 7 for day in range(low, high + 1, step))
    return ",".join(_WEEKDAYS[day] for day in sorted(days))


class ApschedulerTriggers:
    def validate(self, schedule: Schedule, timezone: str) -> None:
        tz = zone(timezone)
        if schedule.kind == "cron":
            try:
                crontab(schedule.cron or "", tz)
            except ValueError as exc:
                raise ValueError(
                    f"{schedule.cron!r} is not a cron schedule (five fields: minute hour "
                    f"day month weekday, e.g. 0 9 * * 1-5 for weekdays at 9:00): {exc}"
                ) from exc
        elif schedule.kind == "interval":
            if not schedule.every_seconds or schedule.every_seconds < 60 or schedule.start is None:
                raise ValueError("an interval needs a start and at least a minute")
        elif schedule.at is None or schedule.at.tzinfo is None:
            raise ValueError("a one-off check-in needs a date and time")

    def next_fire(self, schedule: Schedule, timezone: str, after: datetime) -> datetime | None:
        tz = zone(timezone)
        later = after + timedelta(microseconds=1)
        if schedule.kind == "once":
            assert schedule.at is not None
            return schedule.at if schedule.at > after else None
        if schedule.kind == "cron":
            trigger = crontab(schedule.cron or "", tz)
            fires: datetime | None = trigger.get_next_fire_time(None, later.astimezone(tz))
            return fires
        every, start = schedule.every_seconds or 0, schedule.start
        assert start is not None
        if every % DAY == 0:
            return _calendar_next(start.astimezone(tz), every // DAY, after.astimezone(tz))
        interval = IntervalTrigger(seconds=every, start_date=start.astimezone(tz), timezone=tz)
        next_fire: datetime | None = interval.get_next_fire_time(None, later.astimezone(tz))
        return next_fire


def _calendar_next(start: datetime, days: int, after: datetime) -> datetime:
    """The first ``start + k * days`` (same local wall time) strictly after ``after``."""
    elapsed = (after.date() - start.date()).days
    steps = max(0, elapsed // days)
    while True:
        day = start.date() + timedelta(days=steps * days)
        candidate = datetime.combine(day, start.timetz().replace(tzinfo=None), start.tzinfo)
        if candidate > after:
            return candidate
        steps += 1
