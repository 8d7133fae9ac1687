"""The edit history of working-context blocks: each change of a block, with who made it.

Every change of a block's value bumps its version (``WorkingContext``); the change is kept as
a ``MemoryEdit`` naming the version it produced, the text before and after, and its author:
the agent itself (its core_memory functions), an operator (an API key) or the person (by a
command). An edit is identified by agent, block and version, so storing it again (a step
replayed after a crash) replaces it instead of adding a second one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from core.context.memory import WorkingContext

EditorKind = Literal["agent", "operator", "person"]


class Editor(BaseModel):
    """Who changed a block: the agent (``id`` its key, ``name`` the function it called), an
    operator (the key's id and name) or the person (their platform id and name)."""

    model_config = ConfigDict(frozen=True)

    kind: EditorKind
    id: str
    name: str = ""


class MemoryEdit(BaseModel):
    model_config = ConfigDict(frozen=True)

    agent_key: str
    label: str
    version: int  # the block's version this edit produced
    before: str
    after: str
    by: Editor
    at: datetime


def edits_between(
    agent_key: str, before: WorkingContext, after: WorkingContext, by: Editor, at: datetime
) -> tuple[MemoryEdit, ...]:
    """The edits that turn ``before`` into ``after``: one per block whose value changed (a
    block that is new in ``after`` was empty before)."""
    old = {b.label: b for b in before.blocks}
    edits = []
    for block in after.blocks:
        previous = old.get(block.label)
        was = previous.value if previous is not None else ""
        if block.value != was:
            edits.append(
                MemoryEdit(
                    agent_key=agent_key,
                    label=block.label,
                    version=block.version,
                    before=was,
                    after=block.value,
                    by=by,
                    at=at,
                )
            )
    return tuple(edits)
