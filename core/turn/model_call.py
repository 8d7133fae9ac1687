"""Call the model: whatever goes wrong in an adapter becomes an ``LLMError``."""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from datetime import datetime
from typing import TYPE_CHECKING

from core.context.layout import PromptLayout
from core.context.tokens import TokenCounter
from core.errors import ContextWindowExceededError, LLMError, LLMResponseError
from core.messages import PromptTokens, StepTrace
from core.ports import Clock, SystemTexts
from core.ports.model import ChatModel, ChatRequest, ChatResponse
from core.turn.outcome import Turn
from core.turn.session import AgentSession
from core.turn.settings import AgentSettings

if TYPE_CHECKING:  # the summary (which make room uses) calls the model too
    from core.turn.room import MakeRoom

log = logging.getLogger(__name__)

KEPT_HASHES = 10_000  # system texts known stored, per process


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
        clock: Clock,
        system_texts: SystemTexts | None = None,
    ) -> None:
        self.model = model
        self.layout = layout
        self.counter = counter
        self.room = room
        self.settings = settings
        self.clock = clock
        self.system_texts = system_texts
        self._kept: OrderedDict[str, None] = OrderedDict()  # hashes stored already

    async def _keep_system(self, text: str) -> str:
        """The system text's hash, the text stored under it the first time it is seen here
        (a plain message shows the same text as the last one: no write)."""
        sha = hashlib.sha256(text.encode()).hexdigest()
        if self.system_texts is not None and sha not in self._kept:
            await self.system_texts.put(sha, text)
            self._kept[sha] = None
            while len(self._kept) > KEPT_HASHES:
                self._kept.popitem(last=False)
        elif sha in self._kept:
            self._kept.move_to_end(sha)
        return sha

    def _trace(
        self,
        session: AgentSession,
        sha: str,
        started: datetime,
        *,
        response: ChatResponse | None = None,
        error: str | None = None,
    ) -> StepTrace:
        layout, fifo = self.layout, session.fifo
        memory, summary = session.system_parts()
        usage = response.usage if response is not None else None
        return StepTrace(
            at=started,
            first_seq=fifo[0].seq if fifo else session.next_seq,
            last_seq=fifo[-1].seq if fifo else session.next_seq - 1,
            system_sha256=sha,
            tools_sha256=layout.tools_sha256,
            timezone=session.state.timezone,
            max_message_tokens=layout.max_message_tokens,
            max_reply_tokens=self.settings.reply_tokens,
            tokens=PromptTokens(
                instructions=layout.instructions_tokens,
                tools=layout.tools_tokens,
                reply_priming=layout.reply_priming_tokens,
                working_context=memory,
                summary=summary,
                messages=session.fifo_tokens,
            ),
            latency_ms=round((self.clock.now() - started).total_seconds() * 1000, 3),
            prompt_tokens=usage.prompt_tokens if usage else None,
            cached_tokens=usage.cached_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            finish_reason=response.finish_reason if response is not None else None,
            error=error,
        )

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
            sha = await self._keep_system(request.messages[0].content)
            started = self.clock.now()
            try:
                response = await complete_guarded(self.model, request)
            except ContextWindowExceededError as exc:
                if attempt == s.context_retries:
                    turn.failed_calls.append(self._trace(session, sha, started, error=str(exc)))
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
                    turn.failed_calls.append(self._trace(session, sha, started, error=str(exc)))
                    raise
                continue
            except LLMError as exc:
                turn.failed_calls.append(self._trace(session, sha, started, error=str(exc)))
                raise
            turn.trace = self._trace(session, sha, started, response=response)
            if response.usage:
                self.counter.observe(estimate, response.usage.prompt_tokens)
                turn.count(response.usage)
            return response
        raise AssertionError("unreachable")
