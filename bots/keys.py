"""``pagemind keys``: create, list and revoke the operator API's keys (in the database the
service uses; every creation and revocation is in the audit log, by "pagemind keys")."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from bots.bootstrap import stores
from config.settings import Settings
from core.clock import SystemClock
from core.errors import ConfigurationError
from core.operator.audit import Audit
from core.operator.keys import CLI_CALLER, ApiKeys

IN_MEMORY = (
    "PAGEMIND_STORAGE=memory keeps keys in the process that made them, so a key made by "
    "'pagemind keys' would be gone at once: use MongoDB (the embedded default, or "
    "PAGEMIND_MONGODB_URI) for the operator API."
)


def _stamp(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


async def _open(settings: Settings, stack: AsyncExitStack) -> tuple[ApiKeys, Audit]:
    if settings.storage == "memory":
        raise ConfigurationError(IN_MEMORY)
    clock = SystemClock()
    storage = await stack.enter_async_context(stores(settings))
    return ApiKeys(storage.api_keys, clock), Audit(storage.audit, clock)


async def create(settings: Settings, name: str, role: str, console: Console) -> None:
    async with AsyncExitStack() as stack:
        keys, audit = await _open(settings, stack)
        record, key = await keys.create(name, role)
        await audit.record(CLI_CALLER, "keys.create", target=record.id, summary=record.role)
    console.print(
        f"Created {record.role} key {record.name!r} (id {record.id}). It is shown only now; "
        "keep it somewhere safe:",
        highlight=False,
    )
    print(key)


async def revoke(settings: Settings, key_id: str, console: Console) -> None:
    async with AsyncExitStack() as stack:
        keys, audit = await _open(settings, stack)
        record = await keys.revoke(key_id)
        await audit.record(CLI_CALLER, "keys.revoke", target=record.id, summary=record.name)
    console.print(f"Revoked key {record.id} ({record.name!r}).", highlight=False)


async def show(settings: Settings, console: Console) -> None:
    async with AsyncExitStack() as stack:
        keys, _ = await _open(settings, stack)
        found = await keys.all()
    if not found:
        console.print("No API keys yet: pagemind keys create --name NAME --role admin|viewer")
        return
    table = Table(title="Operator API keys")
    for column in ("id", "name", "role", "created", "last used", "revoked"):
        table.add_column(column)
    for key in found:
        table.add_row(
            key.id,
            key.name,
            key.role,
            _stamp(key.created_at),
            _stamp(key.last_used_at),
            _stamp(key.revoked_at) if key.revoked else "no",
        )
    console.print(table)
