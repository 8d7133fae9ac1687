"""What a chat platform hands the core: one incoming message, in platform-neutral terms,
and the operator's policy for that platform (who the agent is, when it answers, who may
talk to it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from core.agent_key import AgentKey, Scope
from core.events import Address
from core.text import valid_text

AnswerMode = Literal["mention", "always"]


@dataclass(frozen=True, slots=True)
class Sender:
    id: str
    name: str
    is_bot: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", valid_text(self.name))


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file on the platform; ``ref`` is whatever the adapter needs to download it."""

    filename: str
    ref: str
    size: int | None = None
    mime: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "filename", valid_text(self.filename))


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    platform: str
    delivery_id: str  # the platform's id for this delivery: a redelivery repeats it
    message_id: str
    sender: Sender
    channel_id: str
    text: str
    received_at: datetime
    is_direct: bool
    workspace_id: str | None = None  # Discord guild, Slack team
    thread_id: str | None = None
    mentions_bot: bool = False
    replies_to_bot: bool = False
    is_edit: bool = False
    attachments: tuple[Attachment, ...] = ()

    def __post_init__(self) -> None:
        # Every platform's text enters here: made valid before anything can store it.
        object.__setattr__(self, "text", valid_text(self.text))

    @property
    def address(self) -> Address:
        return Address(
            platform=self.platform,
            channel_id=self.channel_id,
            thread_id=self.thread_id,
            reply_to_message_id=self.message_id,
            is_direct=self.is_direct,
        )

    @property
    def to_the_bot(self) -> bool:
        """Written to the bot in person (a DM, a mention, a reply to it): someone waits for
        an answer, even where the agent does not answer every message."""
        return self.is_direct or self.mentions_bot or self.replies_to_bot

    @property
    def user_key(self) -> str:
        """The sender across this platform (user ids are per workspace on Slack)."""
        if self.workspace_id and self.platform == "slack":
            return f"{self.workspace_id}:{self.sender.id}"
        return self.sender.id


@dataclass(frozen=True, slots=True)
class PlatformPolicy:
    """How Pagemind behaves on one platform; every field has a safe default."""

    scope: Scope = "user"
    answer: AnswerMode = "mention"
    allowed_users: frozenset[str] = frozenset()  # empty: everyone
    allowed_workspaces: frozenset[str] = frozenset()
    allowed_channels: frozenset[str] = frozenset()
    admins: frozenset[str] = frozenset()
    admin_only_commands: frozenset[str] = frozenset()
    messages_per_minute: int = 20
    max_upload_bytes: int = 20 * 2**20

    def allows(self, message: IncomingMessage) -> bool:
        if self.allowed_users and message.user_key not in self.allowed_users:
            return False
        if (
            self.allowed_workspaces
            and message.workspace_id
            and message.workspace_id not in self.allowed_workspaces
        ):
            return False
        if self.allowed_channels and not message.is_direct:
            return message.channel_id in self.allowed_channels
        return True

    def is_admin(self, message: IncomingMessage) -> bool:
        return message.user_key in self.admins


def agent_key(message: IncomingMessage, scope: Scope) -> str:
    """Which agent a message is for. In a DM the agent is always the user's own."""
    platform = message.platform
    if scope == "user" or message.is_direct:
        return str(AgentKey.person(platform, message.user_key))
    place = (message.workspace_id or "-", message.channel_id)
    if scope == "thread" and message.thread_id:
        return str(AgentKey.place(platform, "thread", *place, message.thread_id))
    return str(AgentKey.place(platform, "channel", *place))


def addressed(message: IncomingMessage, policy: PlatformPolicy) -> bool:
    """Whether the agent should answer: always in DMs; in groups when mentioned or replied
    to, or on every message if the operator chose so."""
    return message.to_the_bot or policy.answer == "always"


@dataclass
class RateLimiter:
    """A token bucket per user: ``per_minute`` messages, refilled continuously."""

    per_minute: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, user: str, now: float) -> float:
        """0 if the message may pass, else the seconds to wait; ``now`` in seconds, from the
        caller's ``Clock``."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        tokens, last = self._buckets.get(user, (float(self.per_minute), now))
        # a clock set back (the wall clock can be) refills nothing rather than taking away
        tokens = min(float(self.per_minute), tokens + max(0.0, now - last) * rate)
        if tokens >= 1.0:
            self._buckets[user] = (tokens - 1.0, now)
            return 0.0
        self._buckets[user] = (tokens, now)
        return (1.0 - tokens) / rate
