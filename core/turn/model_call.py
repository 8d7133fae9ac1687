"""Call the model: whatever goes wrong in an adapter becomes an ``LLMError``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from core.context.layout import PromptLayout
from core.context.tokens import TokenCounter
from core.errors import ContextWindowExceededError, LLMError, LLMResponseError
from core.ports.model import ChatModel, ChatRequest, ChatResponse
from core.turn.outcome import Turn
from core.turn.session import AgentSession
from core.turn.settings import AgentSettings

if TYPE_CHECKING:  # the summary (which make room uses) calls the model too
    from core.turn.room import MakeRoom

log = logging.getLogger(__name__)


async def complete_guarded(model: ChatModel, request: ChatRequest) -> ChatResponse:
    """``model.complete``, with any exception an adapter let through turned into an
    ``LLMResponseError``: whatever goes wrong in the model call, the turn is stored and the
    person told, never dropped."""
    try:
        return await model.complete(request)
    except LLMError:
        raise
    except Exception as exc:
        log.exception("the language model adapter raised an unexpected error")
        raise LLMResponseError(
            f"the language model call failed unexpectedly ({type(exc).__name__}: {exc})"
        ) from exc


class ModelCall:
    """Call the model with the session's prompt. A provider that says the prompt is too long
    (its window or tokenizer disagrees with ours) gets a smaller one: the counter's correction
    goes up and the context is flushed harder on each retry."""

    def __init__(
        self,
        *,
        model: ChatModel,
        layout: PromptLayout,
        counter: TokenCounter,
        room: MakeRoom,
        settings: AgentSettings,
    ) -> None:
        self.model = model
        self.layout = layout
        self.counter = counter
        self.room = room
        self.settings = settings

    async def call(self, session: AgentSession, turn: Turn) -> ChatResponse:
        s = self.settings
        for attempt in range(s.context_retries + 1):
            estimate = session.prompt_tokens()
            request = ChatRequest(
                messages=session.messages(),
                tools=self.layout.tools,
                max_reply_tokens=s.reply_tokens,
                agent_key=turn.event.agent_key,
                estimated_prompt_tokens=self.counter.scaled(estimate),
            )
            try:
                response = await complete_guarded(self.model, request)
            except ContextWindowExceededError:
                if attempt == s.context_retries:
                    raise
                log.warning(
                    "provider says the prompt is too long (we counted %d); flushing",
                    estimate,
                    extra={"agent_key": turn.event.agent_key, "event_id": turn.event.event_id},
                )
                self.counter.raise_correction(1.25)
                # Shrink from what we actually sent, halving on each retry.
                target = int(min(s.context_window * s.keep_fraction, estimate) / 2 ** (attempt + 1))
                if not await self.room.flush(session, turn, target):
                    raise
                continue
            if response.usage:
                self.counter.observe(estimate, response.usage.prompt_tokens)
                turn.count(response.usage)
            return response
        raise AssertionError("unreachable")
