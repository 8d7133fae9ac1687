"""The Embedder port over any OpenAI-compatible ``/v1/embeddings`` endpoint (``openai`` SDK).

Works with OpenAI, Ollama, vLLM, LM Studio, llama.cpp's server, text-embeddings-inference and
other servers that speak ``POST /v1/embeddings``. What is sent is what all of them accept:
``model``, ``input`` as a list of non-empty strings, ``encoding_format: "float"`` (the SDK would
otherwise ask for base64, which several local servers do not implement) and ``dimensions`` only
when configured.

Inputs are shaped before they are sent:

- **Blank texts** (empty or whitespace only) are not sent: OpenAI rejects empty strings. They
  get a zero vector of the model's dimension, which has cosine similarity 0 with everything.
- **Over-long texts** keep their beginning. First a cheap cut at ``max_input_chars``
  characters (moved back to the last whitespace if one is in the final 10%, so no word is
  split), then, when a ``token_counter`` is given, an exact cut at ``max_input_tokens`` tokens.
  The defaults (8,000 characters, 8,191 tokens) fit OpenAI's embedding models; a one-token
  character is rare outside emoji and CJK, which is what the token cut is for. A warning says
  how many inputs were cut (never their text).
- **Batches** hold at most ``batch_size`` inputs and ``max_batch_chars`` characters. The
  default of 32 inputs is text-embeddings-inference's default client batch limit; OpenAI allows
  2,048 inputs and 300,000 tokens per request. A ``413 Payload Too Large`` answer splits the
  batch in two and tries again.

Vectors come back in the order of the texts, whatever order the server lists them in (by each
item's ``index``). Retries with backoff on 408/409/429/5xx and connection errors are the SDK's
own; what is left is mapped onto the core's ``LLMError`` tree here, at the edge.
"""

from __future__ import annotations

import array
import base64
import logging
import math
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import openai

from adapters.openai_compatible.errors import describe, map_error
from core.errors import (
    ConfigurationError,
    ContextWindowExceededError,
    LLMError,
    LLMResponseError,
)

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 32
DEFAULT_MAX_BATCH_CHARS = 100_000
DEFAULT_MAX_INPUT_CHARS = 8_000
DEFAULT_MAX_INPUT_TOKENS = 8_191

# Embedded when a call holds only blank texts and the model's dimension is not known yet.
_PROBE_TEXT = "dimension probe"

_LAST_WORD = re.compile(r"\s\S*\Z")

Vector = tuple[float, ...]


class TokenTruncator(Protocol):
    """Cuts a text to a token budget; ``core.context.tokens.TokenCounter`` is one."""

    def truncate(self, text: str, max_tokens: int) -> str: ...


class OpenAICompatibleEmbedder:
    """Embeds texts through an OpenAI-compatible ``/v1/embeddings`` endpoint."""

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_batch_chars: int = DEFAULT_MAX_BATCH_CHARS,
        max_input_chars: int = DEFAULT_MAX_INPUT_CHARS,
        dimensions: int | None = None,
        token_counter: TokenTruncator | None = None,
        max_input_tokens: int = DEFAULT_MAX_INPUT_TOKENS,
        client: openai.AsyncOpenAI | None = None,
    ) -> None:
        """Build the embedder; ``client`` (if given) stays the caller's to close.

        ``dimensions`` asks models that support it (OpenAI's text-embedding-3) for shorter
        vectors. ``token_counter`` enables the exact token cut; pass one only when its
        tokenizer is the model's own (``TokenCounter(model).exact``).
        """
        if not model:
            raise ConfigurationError("the embedding model name is empty; set the model to use")
        _require_positive(
            batch_size=batch_size,
            max_batch_chars=max_batch_chars,
            max_input_chars=max_input_chars,
            max_input_tokens=max_input_tokens,
        )
        if dimensions is not None:
            _require_positive(dimensions=dimensions)
        if max_input_chars > max_batch_chars:
            raise ConfigurationError(
                f"max_input_chars ({max_input_chars}) must not exceed max_batch_chars "
                f"({max_batch_chars}): one input has to fit in one request"
            )
        self.model = model
        self.base_url = base_url
        self.batch_size = batch_size
        self.max_batch_chars = max_batch_chars
        self.max_input_chars = max_input_chars
        self.max_input_tokens = max_input_tokens
        self.dimensions = dimensions
        self._tokens = token_counter
        self._dimension: int | None = dimensions
        self._owns_client = client is None
        self._client = client or openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    @property
    def name(self) -> str:
        """Identifies the vector space: vectors from different names must not be compared."""
        suffix = f":{self.dimensions}" if self.dimensions is not None else ""
        return f"openai-compatible:{self.model}{suffix}"

    @property
    def dimension(self) -> int | None:
        """The vectors' length: configured, or learned from the first answer (else None)."""
        return self._dimension

    async def aclose(self) -> None:
        """Close the HTTP client if this embedder created it."""
        if self._owns_client:
            await self._client.close()

    async def __aenter__(self) -> OpenAICompatibleEmbedder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One vector per text, in the order given (see the module docstring for shaping)."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not a single string")
        prepared = self._prepare(texts)
        vectors: list[Vector | None] = [None] * len(prepared)
        work = [(i, text) for i, text in enumerate(prepared) if text is not None]
        for batch in _batches(work, self.batch_size, self.max_batch_chars):
            results = await self._embed_batch([text for _, text in batch])
            for (i, _), vector in zip(batch, results, strict=True):
                vectors[i] = vector
        if len(work) < len(prepared):
            if self._dimension is None:
                await self._embed_batch([_PROBE_TEXT])
            assert self._dimension is not None
            zero = (0.0,) * self._dimension
            vectors = [zero if v is None else v for v in vectors]
        return [v for v in vectors if v is not None]

    def _prepare(self, texts: Sequence[str]) -> list[str | None]:
        """Texts as they will be sent: None for blanks, over-long ones cut (see above)."""
        out: list[str | None] = []
        cut = 0
        for text in texts:
            if not text.strip():
                out.append(None)
                continue
            shaped = _truncate_chars(text, self.max_input_chars)
            if self._tokens is not None:
                shaped = self._tokens.truncate(shaped, self.max_input_tokens)
            cut += shaped != text
            out.append(shaped)
        if cut:
            log.warning(
                "embedding: cut %d of %d inputs to the model's input limit (%s)",
                cut,
                len(out),
                self.model,
            )
        return out

    async def _embed_batch(self, inputs: list[str]) -> list[Vector]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "input": inputs,
            "encoding_format": "float",
        }
        if self.dimensions is not None:
            kwargs["dimensions"] = self.dimensions
        try:
            response = await self._client.embeddings.create(**kwargs)
        except openai.APIStatusError as exc:
            if exc.status_code == 413 and len(inputs) > 1:
                log.warning(
                    "embedding: the endpoint refused %d inputs as too large (413); splitting "
                    "the batch (lower batch_size or max_batch_chars to avoid this)",
                    len(inputs),
                )
                half = len(inputs) // 2
                return await self._embed_batch(inputs[:half]) + await self._embed_batch(
                    inputs[half:]
                )
            raise self._mapped(exc) from exc
        except openai.APIError as exc:
            raise self._mapped(exc) from exc
        vectors = _vectors_in_order(response, len(inputs))
        self._check_dimension(vectors)
        return vectors

    def _check_dimension(self, vectors: list[Vector]) -> None:
        lengths = {len(v) for v in vectors}
        if len(lengths) > 1:
            raise LLMResponseError(
                f"the endpoint returned vectors of different lengths {sorted(lengths)}"
            )
        (length,) = lengths
        if self._dimension is None:
            self._dimension = length
        elif length != self._dimension:
            wanted = "asked for" if self.dimensions is not None else "earlier answers had"
            raise LLMResponseError(
                f"the endpoint returned {length}-dimensional vectors but {wanted} "
                f"{self._dimension}; does {self.model!r} support that, or did the model change?"
            )

    def _mapped(self, exc: openai.APIError) -> LLMError:
        """The core's error for what the SDK raised after its retries, with a hint where
        the embedder's own limits are the cure."""
        if isinstance(exc, openai.APIStatusError) and exc.status_code == 413:
            return LLMResponseError(
                f"the endpoint refused one input as too large (413): {describe(exc)} "
                "(lower max_input_chars)"
            )
        error = map_error(
            exc, service="embeddings", model=self.model, where=self.base_url or "api.openai.com"
        )
        if isinstance(error, ContextWindowExceededError):
            return ContextWindowExceededError(
                f"an input is longer than embedding model {self.model!r} accepts: {error} "
                "(lower max_input_chars, or give a token counter)"
            )
        return error


def _require_positive(**values: int) -> None:
    for key, value in values.items():
        if value < 1:
            raise ConfigurationError(f"embedding setting {key} must be at least 1, not {value}")


def _truncate_chars(text: str, limit: int) -> str:
    """The beginning of ``text`` within ``limit`` characters, not ending mid-word if avoidable."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    last_space = _LAST_WORD.search(cut)
    if last_space is not None and last_space.start() >= limit * 0.9:
        cut = cut[: last_space.start()]
    return cut


def _batches(
    items: list[tuple[int, str]], max_items: int, max_chars: int
) -> Iterator[list[tuple[int, str]]]:
    """Consecutive runs of ``items`` within both limits (an input is never split)."""
    batch: list[tuple[int, str]] = []
    chars = 0
    for item in items:
        size = len(item[1])
        if batch and (len(batch) >= max_items or chars + size > max_chars):
            yield batch
            batch, chars = [], 0
        batch.append(item)
        chars += size
    if batch:
        yield batch


def _vectors_in_order(response: Any, expected: int) -> list[Vector]:
    """The response's vectors placed by their ``index`` (by position if a server omits it)."""
    data = getattr(response, "data", None)
    if not isinstance(data, list) or len(data) != expected:
        got = len(data) if isinstance(data, list) else "no"
        raise LLMResponseError(f"asked for {expected} embeddings, the endpoint returned {got}")
    ordered: list[Vector | None] = [None] * expected
    for position, item in enumerate(data):
        index = getattr(item, "index", None)
        if index is None:
            index = position
        if not isinstance(index, int) or not 0 <= index < expected or ordered[index] is not None:
            raise LLMResponseError(f"the endpoint returned an embedding with a bad index {index!r}")
        ordered[index] = _as_vector(getattr(item, "embedding", None))
    return [v for v in ordered if v is not None]


def _as_vector(raw: object) -> Vector:
    """A tuple of finite floats from a JSON list (or base64 float32, if a server insists)."""
    if isinstance(raw, str):
        values = array.array("f")
        try:
            values.frombytes(base64.b64decode(raw, validate=True))
        except ValueError as exc:
            raise LLMResponseError("the endpoint returned an undecodable embedding") from exc
        if sys.byteorder == "big":
            values.byteswap()
        vector = tuple(float(x) for x in values)
    elif isinstance(raw, list) and all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in raw
    ):
        vector = tuple(float(x) for x in raw)
    else:
        raise LLMResponseError("the endpoint returned an embedding that is not a list of numbers")
    if not vector or not all(math.isfinite(x) for x in vector):
        raise LLMResponseError("the endpoint returned an empty or non-finite embedding")
    return vector
