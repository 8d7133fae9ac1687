"""Scheduling with APScheduler: trigger arithmetic, and the timer that wakes the process."""
