"""An agent's working-context blocks for the operator: read, edit, and the edit history.

Reads go straight to the stores. An edit goes through the agent's inbox
(``core.operator.changes``) and names the version of the block it was made from: the agent's
worker applies it only if the block is still at that version, so an edit racing the agent's
own (or another operator's) is refused with the block as it is now, never lost silently.
The limits are those of the agent's own functions (the block's character limit).

The history lists each change of a block, newest first, with who made it. Reverting is an
edit like any other: put back a ``before`` or ``after`` text from the history.
"""

from __future__ import annotations

from core.context.edits import MemoryEdit
from core.context.memory import MemoryBlock
from core.events import EditMemoryBlock
from core.operator.changes import ChangeRequests
from core.operator.errors import ConflictError, InvalidRequestError, NotFoundError
from core.operator.keys import Caller
from core.operator.paging import Listing, check_limit, decode, listing
from core.operator.ports import MemoryEditStore
from core.ports import AgentStore
from core.records import AgentState

KIND = "memory_edits"


class BlockConflictError(ConflictError):
    """The block changed since the version the edit names: ``block`` is how it is now."""

    def __init__(self, message: str, block: MemoryBlock) -> None:
        super().__init__(message, field="version", current=block.version)
        self.block = block


class OperatorMemory:
    def __init__(
        self, *, agents: AgentStore, edits: MemoryEditStore, changes: ChangeRequests
    ) -> None:
        self.agents = agents
        self.edits = edits
        self.changes = changes

    async def _state(self, agent_key: str) -> AgentState:
        state = await self.agents.load(agent_key)
        if state is None:
            raise NotFoundError(f"there is no agent {agent_key!r}")
        return state

    async def blocks(self, agent_key: str) -> tuple[MemoryBlock, ...]:
        return (await self._state(agent_key)).memory.blocks

    async def block(self, agent_key: str, label: str) -> MemoryBlock:
        return _block(await self._state(agent_key), label)

    async def edit(
        self, caller: Caller, agent_key: str, label: str, value: str, version: int
    ) -> MemoryBlock:
        """Set the block's text if it is still at ``version``; the block as edited."""
        caller.require_admin()
        block = _block(await self._state(agent_key), label)
        if len(value) > block.limit:
            raise InvalidRequestError(
                f"block {label!r} holds at most {block.limit:,} characters; this value has "
                f"{len(value):,}",
                field="value",
            )
        if version != block.version:
            raise BlockConflictError(_stale(label, version, block), block)
        change = EditMemoryBlock(label=label, value=value, expected_version=version)
        try:
            _, state = await self.changes.request(caller, agent_key, change)
        except ConflictError as exc:  # lost the race to an edit made meanwhile
            now = await self.block(agent_key, label)
            raise BlockConflictError(str(exc), now) from None
        return _block(state, label)

    async def history(
        self, agent_key: str, label: str, *, cursor: str | None, limit: int
    ) -> Listing[MemoryEdit]:
        """The block's edits, newest first. An edit written by a step that was never stored
        (its worker lost the agent, and the step was redone without it) has a version above
        the block's: it is not shown, and the redone step's edit replaces it."""
        check_limit(limit)
        block = _block(await self._state(agent_key), label)
        after = decode(KIND, cursor)
        below = block.version + 1
        if after is not None:
            if not isinstance(after[0], int):
                raise InvalidRequestError("this cursor is not from this listing", field="cursor")
            below = min(below, after[0])
        found = await self.edits.page(agent_key, label, below=below, limit=limit + 1)
        return listing(KIND, found, lambda e: (e.version,), limit)


def _block(state: AgentState, label: str) -> MemoryBlock:
    for block in state.memory.blocks:
        if block.label == label:
            return block
    known = ", ".join(b.label for b in state.memory.blocks) or "none"
    raise NotFoundError(f"the agent has no block {label!r} (its blocks: {known})")


def _stale(label: str, version: int, block: MemoryBlock) -> str:
    return (
        f"block {label!r} is at version {block.version}, not {version}: it changed since it "
        "was read; the current block is in this answer"
    )
