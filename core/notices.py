"""What a person is told when something fails: the one place this is worded.

Their turn cannot end as it should (the model failed, the chain of calls hit its step cap,
the daily budget is spent, the event failed for good): each such notice is a ``SendReply``
with a stable idempotency key, addressed like the agent's own replies. Or their message could
not even be recorded, and the platform will not deliver it again: the adapter answers with
``NOT_RECORDED`` (where the platform does redeliver, the adapter refuses the delivery
instead, and the person is told nothing until the retry is answered).
"""

from __future__ import annotations

from core.errors import (
    ContextWindowExceededError,
    LLMAuthenticationError,
    LLMError,
    LLMRateLimitedError,
    LLMResponseError,
)
from core.events import Address, Event, SendReply, UserMessageReceived, reply_address

NOT_RECORDED = (
    "Sorry, something went wrong on my side with that message. Please try again in a moment."
)
LLM_FAILED_NOTICE = (
    "Sorry, I couldn't answer just now: {reason}. Your message is saved, so nothing is lost; "
    "please try again in a moment."
)
GAVE_UP_REASON = "something went wrong on my side, and the operator can see what"
CHAIN_CAPPED_NOTICE = (
    "Sorry, I couldn't finish working on that: it took more steps than I may take for one "
    "message. Your message is saved; please ask again, perhaps in smaller steps."
)
BUDGET_NOTICE = (
    "I've reached my conversation limit for today, so I can't answer right now. "
    "Your message is saved; I'll be back tomorrow."
)
PAUSED_NOTICE = (
    "I'm paused by the operator for now, so I won't answer until I'm back. Your messages "
    "are saved, and I'll see them when I return."
)
CHAIN_CAPPED_AFTER_REPLIES = (
    "(I stopped there: finishing would have taken more steps than I may take for one message.)"
)


def failure_reason(exc: LLMError) -> str:
    """Why the model could not answer, in words for the person."""
    if isinstance(exc, LLMRateLimitedError):
        return "the language model is rate-limiting me"
    if isinstance(exc, ContextWindowExceededError):
        return "the conversation no longer fits the model's context"
    if isinstance(exc, LLMAuthenticationError):
        return "the language model refused my credentials, and the operator has been told"
    if isinstance(exc, LLMResponseError):
        return "the language model sent an answer I could not use"
    return "the language model is unavailable"


def notice(event: Event, home: Address | None, kind: str, text: str) -> SendReply | None:
    """A notice about ``event`` for the person who wrote it; None for events nobody is
    waiting on (timers, uploads: those report themselves), or with nowhere to go."""
    if not isinstance(event, UserMessageReceived):
        return None
    address = reply_address(event, home)
    if address is None:
        return None
    return SendReply(
        agent_key=event.agent_key,
        event_id=event.event_id,
        idempotency_key=f"{event.event_id}:{kind}",
        text=text,
        address=address,
    )
