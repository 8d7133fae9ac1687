"""Events: past-tense facts that wake an agent, and the commands the agent sends back.

Adapters (chat platforms, the upload pipeline, the scheduler, the console) translate what
happens outside into one of these events. Events for one agent are processed one at a time,
in arrival order. Every event carries a unique ``event_id`` (derived from the platform's own
id where there is one, so a redelivery is recognised) and the ``agent_key`` it is for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Address(BaseModel):
    """Where a reply goes: a platform conversation, optionally a thread and a message."""

    model_config = ConfigDict(frozen=True)

    platform: str
    channel_id: str
    thread_id: str | None = None
    reply_to_message_id: str | None = None
    is_direct: bool = False

    def unquoted(self) -> Address:
        """The same conversation, replying to no particular message (a check-in, a notice
        that answers nothing the person just wrote)."""
        if self.reply_to_message_id is None:
            return self
        return self.model_copy(update={"reply_to_message_id": None})


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str
    agent_key: str
    occurred_at: datetime
    reply_to: Address | None = None


class UserMessageReceived(_Event):
    kind: Literal["user_message"] = "user_message"
    text: str
    author_id: str | None = None
    author_name: str | None = None


class SystemAlertRaised(_Event):
    kind: Literal["system_alert"] = "system_alert"
    text: str


class HeartbeatRequested(_Event):
    """Wake the agent with nothing new to read, so it can continue on its own."""

    kind: Literal["heartbeat"] = "heartbeat"
    reason: str = ""


class TimerFired(_Event):
    """A scheduled check-in came due; ``note`` says what it was for."""

    kind: Literal["timer"] = "timer"
    checkin_id: str
    note: str


class UploadCompleted(_Event):
    """A file finished loading into the agent's archival memory."""

    kind: Literal["upload"] = "upload"
    filename: str
    passages: int
    detail: str = ""


class SetDailyBudget(BaseModel):
    """Give the agent its own daily token budget (``tokens``), or with None follow the
    operator's global one again."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["set_daily_budget"] = "set_daily_budget"
    tokens: int | None = Field(None, ge=1)


class EditMemoryBlock(BaseModel):
    """Set a working-context block's text, if the block is still at ``expected_version``
    (else the change is refused with the current version: the operator lost a race)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["edit_memory"] = "edit_memory"
    label: str
    value: str
    expected_version: int = Field(ge=0)


class PauseAgent(BaseModel):
    """Stop calling the model for the agent: its messages are still recorded, and the person
    is told once that it is paused."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["pause"] = "pause"


class ResumeAgent(BaseModel):
    """Call the model for the agent again, from its next message."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["resume"] = "resume"


class ForgetBlock(BaseModel):
    """Remove a block (a person's ``human:<id>`` in a group agent) and its edit history;
    with ``author_id``, also every message that person wrote to the agent."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["forget_block"] = "forget_block"
    label: str
    author_id: str | None = None


# What an operator can change in an agent's state through its inbox, by ``kind``.
OperatorChange = Annotated[
    SetDailyBudget | EditMemoryBlock | PauseAgent | ResumeAgent | ForgetBlock,
    Field(discriminator="kind"),
]


class OperatorChangeRequested(_Event):
    """An operator (an API key) asked to change the agent's state. Its worker applies it in
    order with the agent's other events, never calling the model, and stores the outcome
    in the state (``AgentState.operator_outcomes``) with the change itself."""

    kind: Literal["operator_change"] = "operator_change"
    change: OperatorChange
    key_id: str
    key_name: str


Event = Annotated[
    UserMessageReceived
    | SystemAlertRaised
    | HeartbeatRequested
    | TimerFired
    | UploadCompleted
    | OperatorChangeRequested,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def reply_address(event: _Event, home: Address | None) -> Address | None:
    """Where the agent's messages for ``event`` go: where the event came from, else the
    agent's home conversation, quoting nothing there."""
    return address_or_home(event.reply_to, home)


def address_or_home(address: Address | None, home: Address | None) -> Address | None:
    """``address``; without one, the agent's home conversation (where it was first written
    to), quoting nothing there. None if the agent has neither."""
    if address is not None:
        return address
    return home.unquoted() if home is not None else None


class SendReply(BaseModel):
    """A command: deliver ``text`` from the agent to ``address``.

    ``idempotency_key`` is stable across a replay of the same step, so a sender that can
    deduplicate (or a store that records deliveries) never sends it twice.
    """

    model_config = ConfigDict(frozen=True)

    agent_key: str
    event_id: str
    idempotency_key: str
    text: str
    address: Address | None = None
