"""The OpenAI-compatible endpoint: ``POST /v1/chat/completions`` and ``GET /v1/models``.

The API key is the bearer token (chatting needs an admin key; a viewer may list models). The
request's ``user`` (or the ``X-Pagemind-User`` header; the body wins) names the person, and
their own agent (``openai:user:<user>``) answers. Only the newest user message is read: the
agent keeps the conversation in its own memory, so a client resending the whole history adds
nothing and loses nothing. System and developer messages, earlier turns, ``tools``,
``temperature``, ``max_tokens``, ``response_format`` and the model name are ignored: the agent
answers with its own persona, functions and the operator's model settings. ``n`` must be 1.

The reply is what the agent sent with ``send_message`` during its turn (several messages
joined by a blank line); ``usage`` is the turn's real token counts over all its model calls.
``stream=true`` answers with ``chat.completion.chunk`` server-sent events: the role at once,
then the reply once the turn is stored, the finish, the usage when
``stream_options.include_usage`` asks, and ``[DONE]``. Errors use OpenAI's shape
``{"error": {"message", "type", "param", "code"}}``.

An ``Idempotency-Key`` header makes a retry safe: the same key (from the same API key) is the
same message, sent to the agent once; a retry, to any replica, gets the first request's
answer (same id, reply and usage), waiting for its turn if it is still running. The same key
with another text or person is refused (409). The official client sends it with
``extra_headers={"Idempotency-Key": ...}``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from adapters.http_api.auth import Admin, Services, Viewer
from adapters.http_api.errors import STATUS
from adapters.http_api.openai_wire import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    CompletionUsage,
    Delta,
    Model,
    ModelList,
    OpenAIError,
    PromptTokensDetails,
)
from core.operator.chat import ChatReply, PersonChat, TurnFailedError, TurnPendingError
from core.operator.errors import InvalidRequestError, OperatorError
from core.operator.idempotency import idempotent_request_id
from core.operator.services import OperatorServices
from core.records import TokenUsage

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["openai-compatible"])
KEEPALIVE_SECONDS = 10.0  # an SSE comment while the agent thinks (proxies close idle streams)

_ERRORS = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}
_ERRORS |= {409: "conflict_error", 429: "rate_limit_error", 500: "api_error"}
_ERRORS |= {502: "api_error", 503: "api_error", 504: "timeout_error"}


def newest_user_text(body: ChatCompletionRequest) -> str:
    """The text of the newest user message (text parts joined); images are refused."""
    for message in reversed(body.messages):
        if message.role != "user":
            continue
        content = message.content
        if content is None:
            break
        if isinstance(content, str):
            return content
        texts = []
        for part in content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise InvalidRequestError(
                    "only text parts are read; the agent takes no images or files here",
                    field="messages",
                )
            texts.append(part["text"])
        return "\n".join(texts)
    raise InvalidRequestError("there is no user message with text to answer", field="messages")


def _chat(ops: OperatorServices) -> PersonChat:
    if ops.chat is None:
        raise OperatorError("the OpenAI-compatible endpoint is not wired in this process")
    return ops.chat


def _usage(usage: TokenUsage) -> CompletionUsage:
    return CompletionUsage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=usage.cached_tokens),
    )


@router.get("/models", summary="The one model: Pagemind's agents (viewer)")
async def list_models(who: Viewer, ops: Services) -> ModelList:
    return ModelList(data=[Model(created=int(ops.clock.now().timestamp()))])


@router.post(
    "/chat/completions",
    summary="Talk to the person's own agent, OpenAI-style (admin)",
    response_model=ChatCompletion,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "stream=true: chunks"},
        400: {"model": OpenAIError, "description": "no user, or nothing to answer"},
        409: {"model": OpenAIError, "description": "Idempotency-Key reused for another message"},
        504: {"model": OpenAIError, "description": "recorded, not answered in time"},
    },
)
async def chat_completions(
    body: ChatCompletionRequest,
    who: Admin,
    ops: Services,
    x_pagemind_user: Annotated[
        str | None, Header(description="the person, when the body has no user")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="the same key again is the same message: answered once, "
            "the retry gets the first answer",
        ),
    ] = None,
) -> Response:
    user = body.user or x_pagemind_user
    if not user:
        raise InvalidRequestError(
            "name the person: the request's user field (or an X-Pagemind-User header); "
            "each person has their own agent",
            field="user",
        )
    if body.n not in (None, 1):
        raise InvalidRequestError("n must be 1: the agent answers once", field="n")
    chat = _chat(ops)
    text = newest_user_text(body)
    # the completion's id, and the message's event id
    request_id = (
        uuid.uuid4().hex if idempotency_key is None else idempotent_request_id(who, idempotency_key)
    )
    completion_id = f"chatcmpl-{request_id}"
    if not body.stream:
        reply = await chat.send(who, user, text, request_id=request_id)
        completion = ChatCompletion(
            id=completion_id,
            created=int(reply.created.timestamp()),
            choices=[Choice(message=AssistantMessage(content=reply.text))],
            usage=_usage(reply.usage),
        )
        return JSONResponse(completion.model_dump(mode="json"))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    turn = asyncio.ensure_future(chat.send(who, user, text, request_id=request_id))
    _RUNNING.add(turn)  # held until done: a client that goes away does not stop the turn
    turn.add_done_callback(_finished)
    stream = _stream(turn, completion_id, int(ops.clock.now().timestamp()), include_usage)
    return StreamingResponse(stream, media_type="text/event-stream")


async def _stream(
    turn: asyncio.Future[ChatReply], chunk_id: str, created: int, include_usage: bool
) -> AsyncIterator[str]:
    """The chunks: the role now, the reply when the turn is stored, then ``[DONE]``."""

    def chunk(delta: Delta, finish: bool = False, usage: CompletionUsage | None = None) -> str:
        choices = [ChunkChoice(delta=delta, finish_reason="stop" if finish else None)]
        if usage is not None:
            choices = []  # the usage chunk has no choice, as OpenAI sends it
        data = ChatCompletionChunk(id=chunk_id, created=created, choices=choices, usage=usage)
        return f"data: {data.model_dump_json()}\n\n"

    yield chunk(Delta(role="assistant", content=""))
    while not turn.done():
        await asyncio.wait({turn}, timeout=KEEPALIVE_SECONDS)
        if not turn.done():
            yield ": the agent is still thinking\n\n"
    try:
        reply = turn.result()
    except OperatorError as exc:  # the openai client raises it as an APIError
        yield f"data: {json.dumps(_openai_error(_status(exc), exc))}\n\n"
        return
    except Exception:  # logged by ``_finished``
        failed = {"message": "internal error (logged on the server)", "type": "api_error"}
        yield f"data: {json.dumps({'error': failed})}\n\n"
        return
    for i, message in enumerate(reply.messages):
        yield chunk(Delta(content=("\n\n" if i else "") + message))
    yield chunk(Delta(), finish=True)
    if include_usage:
        yield chunk(Delta(), usage=_usage(reply.usage))
    yield "data: [DONE]\n\n"


_RUNNING: set[asyncio.Future[ChatReply]] = set()


def _finished(turn: asyncio.Future[ChatReply]) -> None:
    """A streamed turn ended, its client still there or not: an unexpected failure is
    logged here (an operator error is the client's answer)."""
    _RUNNING.discard(turn)
    failure = None if turn.cancelled() else turn.exception()
    if failure is not None and not isinstance(failure, OperatorError):
        log.error("an OpenAI-compatible streamed turn failed", exc_info=failure)


def _status(exc: OperatorError) -> int:
    if isinstance(exc, TurnPendingError):
        return 504
    if isinstance(exc, TurnFailedError):
        return 502
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def _openai_error(status: int, exc: OperatorError) -> dict[str, Any]:
    kind = "invalid_request_error" if status in (400, 413, 422) else _ERRORS.get(status)
    return {
        "error": {
            "message": str(exc),
            "type": kind or "api_error",
            "param": exc.field,
            "code": exc.code,
        }
    }


# --------------------------------------------------------------------------- errors

Handler = Callable[[Request, Any], Response | Awaitable[Response]]  # as Starlette keeps them


def install_errors(app: FastAPI) -> None:
    """Under ``/v1`` every error takes OpenAI's shape (the ``openai`` client reads
    ``error.message``), with the status the rest of the API would give; a request without a
    user is OpenAI's 400. Call after ``errors.install``."""
    for kind, handler in list(app.exception_handlers.items()):
        app.exception_handlers[kind] = _openai_shaped(handler)


def _openai_shaped(handler: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith(router.prefix + "/"):
            return await _answer(handler, request, exc)
        if isinstance(exc, TurnPendingError | TurnFailedError):
            status = _status(exc)
            response: Response = JSONResponse(_openai_error(status, exc), status_code=status)
        else:
            response = _reshaped(await _answer(handler, request, exc))
        if isinstance(exc, InvalidRequestError) and exc.field in _BAD_REQUEST:
            response.status_code = 400  # OpenAI's status for a request it cannot answer
        retry_is_safe = "idempotency-key" in request.headers  # a retry is the same message
        if response.status_code >= 500 and request.method == "POST" and not retry_is_safe:
            # the message may be recorded (it is kept and answered): the openai client
            # retries a 5xx, which would send it twice, unless told not to
            response.headers["x-should-retry"] = "false"
        if response.status_code == 409:  # the key stays taken: retrying cannot help
            response.headers["x-should-retry"] = "false"
        return response

    return handle


async def _answer(handler: Handler, request: Request, exc: Exception) -> Response:
    answer = handler(request, exc)
    return await answer if inspect.isawaitable(answer) else answer


_BAD_REQUEST = {"user", "n", "messages"}
_KEPT = {"retry-after", "www-authenticate"}


def _reshaped(response: Response) -> Response:
    """Our ``{"error": {"code", "message", "field"}}`` as OpenAI's shape."""
    try:
        ours = json.loads(bytes(response.body))["error"]
    except (ValueError, KeyError, TypeError):
        return response
    status = response.status_code
    kind = "invalid_request_error" if status in (400, 413, 422) else _ERRORS.get(status)
    body = {
        "error": {
            "message": ours.get("message", ""),
            "type": kind or "api_error",
            "param": ours.get("field"),
            "code": ours.get("code"),
        }
    }
    headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT}
    return JSONResponse(body, status_code=status, headers=headers)
