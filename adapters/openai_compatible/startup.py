"""The check at start: is the model server there, does it take the key, does it serve the
model? One cheap call (``GET /models``) tells these apart; a one-token completion settles the
model only where the list cannot (a server without ``/models``, or one that serves any name).
Each failure is one ``ConfigurationError`` line that says what to fix."""

from __future__ import annotations

import logging

import openai

from adapters.openai_compatible.errors import describe
from core.errors import ConfigurationError

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 15.0
SKIP_HINT = "start with --no-model-check (or PAGEMIND_LLM_CHECK=false) to skip this check"


async def check_model_server(
    client: openai.AsyncOpenAI, model: str, where: str, max_tokens_param: str
) -> None:
    """Raise ``ConfigurationError`` if the key is rejected, the server cannot be reached, or
    it does not serve ``model``. Anything else (a busy server) is only logged."""
    quick = client.with_options(max_retries=0, timeout=CHECK_TIMEOUT)
    served: list[str] | None = None
    try:
        served = [m.id async for m in quick.models.list()]
    except openai.APIStatusError as exc:
        _refuse_key(exc, where)
        if exc.status_code >= 500:
            log.warning("the model server at %s answered %d at start", where, exc.status_code)
            return
        # 404/405...: a server without the list; the completion below settles it
    except openai.APIConnectionError as exc:
        raise _unreachable(exc, where) from exc
    except Exception:  # a list that is not what the API describes: ask the model instead
        served = None
    if served is not None and _listed(model, served):
        return
    try:
        await quick.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "ping"}],
            extra_body={max_tokens_param: 1},  # max_tokens or max_completion_tokens
        )
    except openai.APIStatusError as exc:
        _refuse_key(exc, where)
        if exc.status_code == 404:
            offered = f" It serves: {', '.join(served[:10])}." if served else ""
            raise ConfigurationError(
                f"the model server at {where} does not serve {model!r} (404: {describe(exc)})."
                f"{offered} Set PAGEMIND_LLM_MODEL to a model it serves."
            ) from exc
        log.warning(
            "the model server at %s answered %d to a one-token test call: %s",
            where,
            exc.status_code,
            describe(exc),
        )
    except openai.APIConnectionError as exc:
        raise _unreachable(exc, where) from exc
    except Exception as exc:
        log.warning("the model server at %s gave an odd answer at start: %s", where, exc)


def _refuse_key(exc: openai.APIStatusError, where: str) -> None:
    if exc.status_code in (401, 403):
        raise ConfigurationError(
            f"the model server at {where} rejected the API key ({exc.status_code}: "
            f"{describe(exc)}). Check PAGEMIND_LLM_API_KEY (or OPENAI_API_KEY)."
        ) from exc


def _unreachable(exc: openai.APIConnectionError, where: str) -> ConfigurationError:
    if isinstance(exc, openai.APITimeoutError):
        return ConfigurationError(
            f"the model server at {where} did not answer within {CHECK_TIMEOUT:.0f} s. If it "
            f"is up but cannot answer GET /models quickly, {SKIP_HINT}."
        )
    cause = exc.__cause__ or exc
    return ConfigurationError(
        f"cannot connect to the model server at {where} ({str(cause) or type(cause).__name__})."
        " Is it running, and is PAGEMIND_LLM_BASE_URL right?"
    )


def _listed(model: str, served: list[str]) -> bool:
    """``model`` is in the list (Ollama lists "llama3.1:latest" for "llama3.1")."""
    return model in served or f"{model}:latest" in served
