"""Default prompt texts, read from the package at call time (no I/O at import)."""

from __future__ import annotations

from importlib import resources


def read(name: str) -> str:
    """The text of ``config/prompts/<name>.md``, stripped."""
    return resources.files(__package__).joinpath(f"{name}.md").read_text("utf-8").strip()
