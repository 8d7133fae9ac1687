"""Scheduling with APScheduler: trigger arithmetic (cron, dates, intervals, with zones)."""
