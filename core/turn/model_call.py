"""Calling the model: whatever goes wrong in an adapter becomes an ``LLMError``."""

from __future__ import annotations

import logging

from core.errors import LLMError, LLMResponseError
from core.ports.model import ChatModel, ChatRequest, ChatResponse

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
