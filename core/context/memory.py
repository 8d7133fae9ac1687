"""Working context: the small, labelled blocks of text the agent always sees and edits itself.

Blocks are immutable values; an edit returns a new ``WorkingContext``, so a step that fails
half-way leaves the committed memory untouched. Each block's character limit is shown to the
model and enforced at write time.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from core.errors import MemoryLimitError, ToolError


class MemoryBlock(BaseModel):
    model_config = ConfigDict(frozen=True)

    label: str
    value: str = ""
    limit: int = 2000
    title: str | None = None  # who a person block is about, shown to the model
    version: int = 0  # bumped by every change of ``value`` (never shown to the model)


class WorkingContext(BaseModel):
    model_config = ConfigDict(frozen=True)

    blocks: tuple[MemoryBlock, ...] = ()
    note: str = ""  # shown above the blocks (how a group agent's blocks work)

    def ensure(self, label: str, *, limit: int, title: str | None = None) -> WorkingContext:
        """This context with an empty block ``label`` added if it has none."""
        if any(b.label == label for b in self.blocks):
            return self
        return self.model_copy(
            update={"blocks": (*self.blocks, MemoryBlock(label=label, limit=limit, title=title))}
        )

    def block(self, label: str) -> MemoryBlock:
        for block in self.blocks:
            if block.label == label:
                return block
        known = ", ".join(repr(b.label) for b in self.blocks) or "none"
        raise ToolError(f"There is no memory block {label!r}. Blocks: {known}.")

    def append(self, label: str, content: str) -> WorkingContext:
        content = content.strip()
        if not content:
            raise ToolError("Nothing to append: content is empty.")
        block = self.block(label)
        value = f"{block.value}\n{content}" if block.value else content
        return self._with(block, value, action="append")

    def replace(self, label: str, old_content: str, new_content: str) -> WorkingContext:
        block = self.block(label)
        if not old_content:
            raise ToolError("old_content is empty: give the exact text to replace.")
        found = block.value.count(old_content)
        if found == 0:
            raise ToolError(
                f"old_content was not found in block {label!r}; nothing changed. "
                "Copy the exact text from your working context."
            )
        if found > 1:
            raise ToolError(
                f"old_content appears {found} times in block {label!r}; nothing changed. "
                "Include more of the surrounding text so it matches once."
            )
        value = block.value.replace(old_content, new_content, 1)
        value = "\n".join(line for line in value.split("\n") if line.strip()).strip()
        return self._with(block, value, action="replace")

    def set(self, label: str, value: str) -> WorkingContext:
        """This context with block ``label`` holding ``value`` (an operator's edit), within
        the block's limit like the agent's own edits."""
        return self._with(self.block(label), value, action="set")

    def _with(self, block: MemoryBlock, value: str, *, action: str) -> WorkingContext:
        if len(value) > block.limit:
            raise MemoryLimitError(
                f"Cannot {action}: block {block.label!r} would hold {len(value):,} characters, "
                f"over its limit of {block.limit:,}; nothing changed. Shorten it with "
                "core_memory_replace or move details to archival memory."
            )
        if value == block.value:
            return self
        updated = block.model_copy(update={"value": value, "version": block.version + 1})
        return self.model_copy(
            update={"blocks": tuple(updated if b.label == block.label else b for b in self.blocks)}
        )

    def render(self) -> str:
        parts = ["<working_context>"]
        if self.note:
            parts.append(self.note)
        for block in self.blocks:
            about = f' about="{block.title}"' if block.title else ""
            size = f'characters="{len(block.value)}/{block.limit}"'
            parts.append(f"<{block.label}{about} {size}>")
            if block.value:
                parts.append(block.value)
            parts.append(f"</{block.label}>")
        parts.append("</working_context>")
        return "\n".join(parts)
