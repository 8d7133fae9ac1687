"""A message sent again with its ``Idempotency-Key``: the same event, heard once.

A client that lost the answer (a timeout, a dropped connection, a load balancer's retry)
sends the request again with the same key. Its event id is derived from the key and the API
key that sent it (and, on the operator API, the agent it is sent to), so on any replica the
retry is the first request's event: the inbox
refuses it as a duplicate, and the retry waits for the first request's turn (the shared
inbox says when it has ended) and answers from what that turn stored. The same key for
another message is refused; a key is found again among the agent's last ``REPLAY_WINDOW``
messages (older ones are "too long ago").

Used by both ways of sending a message as a person: the OpenAI-compatible endpoint
(``core.operator.chat``) and the operator API's ``POST /api/agents/{key}/messages``
(``core.operator.conversation``).
"""

from __future__ import annotations

import asyncio
import hashlib

from core.events import Event
from core.messages import Message
from core.operator.errors import InvalidRequestError
from core.operator.keys import Caller
from core.ports import AgentStore, Inbox, RecallStore

IDEMPOTENCY_KEY_LENGTH = 255
REPLAY_WINDOW = 1_000  # messages searched back for a retried request's turn
PENDING_POLL_SECONDS = 0.2  # a retry checks this often whether the first request's turn ended
PENDING_POLL_MAX_SECONDS = 2.0  # ... and at least this often while it goes on

REUSED = (
    "this Idempotency-Key was already used for another message (another text or person, or "
    "too long ago to answer again); use a new key for a new message"
)


def idempotent_request_id(caller: Caller, idempotency_key: str, scope: str = "") -> str:
    """The request id of a message sent with ``idempotency_key``: the same on every retry
    with the same API key (and ``scope``, e.g. the agent it is sent to), unrelated to another
    API key's (or scope's)."""
    if not 0 < len(idempotency_key) <= IDEMPOTENCY_KEY_LENGTH or not (
        idempotency_key.isascii() and idempotency_key.isprintable()
    ):
        raise InvalidRequestError(
            f"Idempotency-Key must be 1-{IDEMPOTENCY_KEY_LENGTH} printable ASCII characters",
            field="Idempotency-Key",
        )
    scoped = f"{scope}\0{idempotency_key}" if scope else idempotency_key
    digest = hashlib.sha256(f"{caller.key_id}\0{scoped}".encode())
    return digest.hexdigest()[:32]


async def turn_ended(inbox: Inbox, event_id: str) -> None:
    """Until the turn of the request first sent with this event has ended, on whichever
    replica runs it (the shared inbox is what every replica sees). Asks every
    ``PENDING_POLL_SECONDS`` at first, less often the longer the turn takes (at most every
    ``PENDING_POLL_MAX_SECONDS``): a retry its client gave up on costs little."""
    pause = PENDING_POLL_SECONDS
    # another replica may run the turn: nothing in this process can say when it ends
    while await inbox.is_pending(event_id):
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, PENDING_POLL_MAX_SECONDS)


async def given_up(inbox: Inbox, event: Event) -> str | None:
    """Why the inbox gave up on ``event`` (failed on every attempt, kept unanswered), if it
    did."""
    for failed in await inbox.failed(event.agent_key):
        if failed.event.event_id == event.event_id:
            return failed.error
    return None


async def sent_message(
    agents: AgentStore, recall: RecallStore, agent_key: str, event_id: str
) -> Message | None:
    """The person's message of ``event_id``, among the agent's last ``REPLAY_WINDOW``."""
    state = await agents.load(agent_key)
    if state is None:
        return None
    for m in state.unfiled:
        if m.kind == "user_message" and m.event_id == event_id:
            return m
    upto = state.last_seq
    while upto > max(0, state.last_seq - REPLAY_WINDOW):
        after = max(0, upto - 100)
        for m in await recall.range(agent_key, after, upto):
            if m.kind == "user_message" and m.event_id == event_id:
                return m
        upto = after
    return None
