"""Which agent: the key that names one, parsed and formatted here and nowhere else.

A key names its platform, its scope and the ids of the place or person it is for:
``telegram:user:12345``, ``slack:channel:T01:C02``, ``slack:thread:T01:C02:1700.1``, and the
console's short form ``console:alice`` (a person's own agent, with no scope written). Storage
and events carry the plain string; code that needs to know what a key means parses it into an
``AgentKey`` instead of looking for substrings. Any string parses (keys typed at the command
line need not follow the pattern): what does not name a scope is a one-to-one agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scope = Literal["user", "channel", "thread"]
SCOPES: tuple[Scope, ...] = ("user", "channel", "thread")
_BY_NAME: dict[str, Scope] = {scope: scope for scope in SCOPES}


def key_part(platform_id: str) -> str:
    """A platform's id as keys spell it (``#`` is kept out of keys)."""
    return platform_id.replace("#", "_")


@dataclass(frozen=True, slots=True)
class AgentKey:
    platform: str
    scope: Scope
    ids: tuple[str, ...]
    scope_written: bool = True  # False for the short form, ``console:alice``

    @classmethod
    def person(cls, platform: str, person_id: str) -> AgentKey:
        """A person's own agent on a platform."""
        return cls(platform, "user", (key_part(person_id),))

    @classmethod
    def place(cls, platform: str, scope: Scope, *ids: str) -> AgentKey:
        """The agent of a channel or a thread (its workspace, channel and thread ids)."""
        return cls(platform, scope, tuple(key_part(i) for i in ids))

    @classmethod
    def short(cls, platform: str, person_id: str) -> AgentKey:
        """A person's own agent, spelled without its scope (``console:alice``)."""
        return cls(platform, "user", (person_id,), scope_written=False)

    @classmethod
    def parse(cls, key: str) -> AgentKey:
        platform, _, rest = key.partition(":")
        head, more, tail = rest.partition(":")
        scope = _BY_NAME.get(head) if more else None
        if scope is not None:
            return cls(platform, scope, tuple(tail.split(":")))
        return cls(platform, "user", tuple(rest.split(":")) if rest else (), scope_written=False)

    def __str__(self) -> str:
        head = (self.platform, self.scope) if self.scope_written else (self.platform,)
        return ":".join((*head, *self.ids))

    @property
    def is_group(self) -> bool:
        """Talks with a group (a channel, a thread) rather than one person."""
        return self.scope != "user"

    @property
    def own_person(self) -> str | None:
        """The person a one-to-one agent is for (its id as the key spells it); None for a
        group's agent or a key that names no one."""
        if self.scope != "user":
            return None
        if self.scope_written:
            return ":".join(self.ids)
        return self.ids[0] if len(self.ids) == 1 else None
