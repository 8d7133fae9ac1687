"""Background tasks end on close even when one of them lost a cancellation."""

from __future__ import annotations

import asyncio
import contextlib

from core.tasks import BackgroundTasks


async def test_a_task_that_lost_a_cancellation_is_still_ended_on_close() -> None:
    started = asyncio.Event()

    async def stubborn() -> None:
        started.set()
        with contextlib.suppress(asyncio.CancelledError):  # as a driver call sometimes does
            await asyncio.sleep(3600)
        await asyncio.sleep(3600)

    tasks = BackgroundTasks()
    task = tasks.spawn(stubborn(), name="stubborn")
    await started.wait()
    await asyncio.wait_for(tasks.aclose(), 30)
    assert task is not None and task.cancelled()
