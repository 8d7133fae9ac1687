"""The agent's own check-ins: schedule one, list them, cancel one. Docstrings are prompts."""

from __future__ import annotations

from core.checkins.service import CheckinService
from core.checkins.when import parse_when
from core.clock import stamp
from core.errors import ToolError
from core.events import reply_address
from core.tools.registry import ToolContext, ToolRegistry


async def schedule_checkin(
    ctx: ToolContext,
    note: str,
    at: str | None = None,
    every: str | None = None,
    cron: str | None = None,
) -> str:
    """Be woken later with a note, in the user's time zone. Give one of at, every, cron.

    Args:
        note: what for, e.g. ask how the interview went
        at: once: YYYY-MM-DD HH:MM
        every: repeat: 30m, 12h, 1d, 1w
        cron: e.g. 0 9 * * 1-5
    """
    checkins = _service(ctx)
    schedule = parse_when(at=at, every=every, cron=cron, timezone=ctx.timezone.key, now=ctx.now)
    address = reply_address(ctx.event, ctx.home)
    if address is None:
        raise ToolError("There is no conversation to send a check-in to yet; none was made.")
    checkin = await checkins.schedule(
        ctx.agent_key,
        note,
        schedule,
        timezone=ctx.timezone.key,
        created_by="agent",
        address=address,
    )
    assert checkin.next_due is not None
    return f"Scheduled {checkin.id}: next {stamp(checkin.next_due, ctx.timezone)}."


async def list_checkins(ctx: ToolContext) -> str:
    """List your check-ins."""
    found = await _service(ctx).active(ctx.agent_key)
    if not found:
        return "No check-ins are scheduled."
    return "\n".join(c.line() for c in found)


async def cancel_checkin(ctx: ToolContext, checkin_id: str) -> str:
    """Cancel a check-in.

    Args:
        checkin_id: its id from list_checkins
    """
    if await _service(ctx).cancel(ctx.agent_key, checkin_id):
        return f"Cancelled {checkin_id}."
    raise ToolError(f"There is no active check-in {checkin_id!r}; see list_checkins.")


def register_checkin_tools(registry: ToolRegistry) -> ToolRegistry:
    for tool in (schedule_checkin, list_checkins, cancel_checkin):
        registry.register(tool)
    return registry


def _service(ctx: ToolContext) -> CheckinService:
    if ctx.checkins is None:
        raise ToolError("Check-ins are not enabled here.")
    return ctx.checkins
