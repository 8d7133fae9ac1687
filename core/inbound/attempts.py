"""Running one event's turn: retried when it fails, given up on (kept in the inbox as
failed, the person told) when every attempt fails, and marked done in the inbox only after.

This is the redelivery layer for a failure inside the turn: the dispatcher retries it here,
and the turn itself, replayed, resumes from its last stored step instead of repeating it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from core.errors import ConcurrentUpdateError, StorageError
from core.events import Event
from core.ports import Inbox
from core.turn.outcome import TurnOutcome

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[TurnOutcome]]
GiveUp = Callable[[Event, str], Awaitable[None]]


class TurnAttempts:
    def __init__(
        self,
        handle: Handler,
        *,
        inbox: Inbox,
        forget: Callable[[str], None],
        give_up: GiveUp | None,
        attempts: int,
        retry_delay: float,
    ) -> None:
        self._handle = handle
        self._inbox = inbox
        self._forget = forget
        self._give_up = give_up
        self._attempts = attempts
        self._retry_delay = retry_delay

    async def run(self, event: Event) -> bool:
        """Run the event's turn (with retries) and mark it done; False if it was left to
        another worker. An event that fails every attempt is kept in the inbox as failed
        (the person's export shows it) and handed to ``give_up``, which tells the person."""
        extra = {"agent_key": event.agent_key, "event_id": event.event_id}
        error: str | None = None
        exhausted = True
        for attempt in range(1, self._attempts + 1):
            try:
                await self._handle(event)  # a failure it handled is stored, told and logged
                error = None
                exhausted = False
                break
            except asyncio.CancelledError:
                raise
            except ConcurrentUpdateError as exc:
                log.warning("another worker took the agent (%s); leaving it", exc, extra=extra)
                self._forget(event.agent_key)
                return False
            except StorageError as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.warning("storage failed (attempt %d): %s", attempt, exc, extra=extra)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                if attempt == 1:
                    log.exception("event failed (attempt 1)", extra=extra)
                else:
                    log.warning("event failed again (attempt %d): %s", attempt, error, extra=extra)
            if attempt < self._attempts:
                await asyncio.sleep(self._retry_delay * attempt)
        if exhausted:
            log.error(
                "event failed %d times; kept in the inbox as failed: %s",
                self._attempts,
                error,
                extra=extra,
            )
            if self._give_up is not None:
                await self._give_up(event, error or "failed")
        try:
            await self._inbox.mark_done(event.event_id, error=error)
        except StorageError:
            log.exception("could not mark the event done; it will be replayed", extra=extra)
            return False
        return True
