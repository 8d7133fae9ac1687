"""The SDK's errors, left over after its own retries, as the core's ``LLMError`` tree."""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime

import openai

from core.errors import (
    ContextWindowExceededError,
    LLMAuthenticationError,
    LLMError,
    LLMRateLimitedError,
    LLMResponseError,
    LLMUnavailableError,
)

_CONTEXT_ERROR = re.compile(
    r"context[_ ]length|context size|context window|maximum context|too many tokens|"
    r"exceeds? the (available )?context|prompt is too long|reduce the length|"
    r"input is too long|too long for|too large to process|maximum input length|"
    r"less than \d+ tokens",
    re.I,
)


def describe(exc: openai.APIStatusError) -> str:
    """The server's own message, wherever in the body it put it."""
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return exc.message


def is_context_error(exc: openai.APIStatusError) -> bool:
    """Whether the server refused the input as longer than the model's context (servers
    word it differently: OpenAI and vLLM, llama.cpp, others)."""
    if exc.status_code not in (400, 413, 422):
        return False
    body = exc.body
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code") or body["error"].get("type")
    return code in ("context_length_exceeded", "exceed_context_size_error") or bool(
        _CONTEXT_ERROR.search(describe(exc))
    )


def retry_after(exc: openai.APIStatusError) -> float | None:
    """The seconds the server asked to wait: ``Retry-After`` (seconds, or an HTTP date),
    or OpenAI's ``retry-after-ms``; None when it said nothing usable."""
    headers = exc.response.headers
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def map_error(exc: openai.APIError, *, service: str, model: str, where: str) -> LLMError:
    """The core's error for ``exc``; ``service`` names the endpoint in messages ("chat")."""
    if isinstance(exc, openai.APIStatusError):
        detail = describe(exc)
        if is_context_error(exc):
            return ContextWindowExceededError(detail)
        if isinstance(exc, openai.RateLimitError):
            return LLMRateLimitedError(
                f"rate limited after retries: {detail}", retry_after=retry_after(exc)
            )
        if isinstance(exc, openai.AuthenticationError):
            return LLMAuthenticationError(
                f"the {service} endpoint at {where} rejected the API key (401): {detail}"
            )
        if isinstance(exc, openai.PermissionDeniedError):
            return LLMAuthenticationError(
                f"the {service} endpoint at {where} refused this API key access (403): {detail}"
            )
        if isinstance(exc, openai.NotFoundError):
            return LLMUnavailableError(
                f"model {model!r} or the endpoint path was not found (404) at {where}: {detail}"
            )
        if exc.status_code < 500:
            return LLMResponseError(
                f"the {service} endpoint refused the request ({exc.status_code}): {detail}"
            )
        return LLMUnavailableError(f"the {service} endpoint answered {exc.status_code}: {detail}")
    if isinstance(exc, openai.APITimeoutError):
        return LLMUnavailableError(f"the {service} endpoint at {where} did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return LLMUnavailableError(f"cannot connect to {where}: {exc}")
    return LLMResponseError(f"unusable answer from the {service} endpoint: {exc}")


def map_unexpected(exc: Exception, *, service: str, where: str) -> LLMError:
    """Anything else the SDK or the answer's shape raised (a 200 whose body is not JSON, a
    field of the wrong type): the endpoint answered, but with nothing usable."""
    return LLMResponseError(
        f"the {service} endpoint at {where} sent an answer that is not a valid completion "
        f"({type(exc).__name__}: {exc})"
    )
