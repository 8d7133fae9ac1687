"""The project's error tree, documented in one place.

Adapters map third-party exceptions onto these classes at the edge (``raise ... from exc``),
so the core and the entry points never see an SDK's exception type.

    PagemindError
    ├── ConfigurationError          a setting is missing or wrong; the message says what to set
    ├── LLMError                    the language model could not give an answer
    │   ├── LLMUnavailableError     connection refused, timeout, 5xx after retries
    │   ├── LLMAuthenticationError  the endpoint rejected the API key (401/403): never retried
    │   ├── LLMRateLimitedError     429 after the retries allowed (with the retry_after asked)
    │   ├── LLMResponseError        the endpoint answered with something unusable
    │   └── ContextWindowExceededError  the provider said the prompt is too long
    ├── StorageError                a store failed
    │   ├── StorageUnavailableError the database cannot be reached
    │   └── ConcurrentUpdateError   someone else changed the agent since we read it
    │       └── LeaseLostError      this worker no longer holds the agent's lease
    ├── ToolError                   a tool refused its input; shown to the model as a failed call
    │   └── MemoryLimitError        a working-context block would pass its character limit
    ├── UploadError                 a file cannot be taken in; the message is for the user
    └── DeliveryError               a platform would not take a message (after retries)
"""

from __future__ import annotations


class PagemindError(Exception):
    """Root of every error Pagemind raises on purpose."""


class ConfigurationError(PagemindError):
    """A setting is missing or invalid. The message tells the operator what to set."""


class LLMError(PagemindError):
    """The language model could not produce an answer."""


class LLMUnavailableError(LLMError):
    """The endpoint could not be reached or kept failing (timeouts, 5xx) after retries."""


class LLMAuthenticationError(LLMError):
    """The endpoint rejected the API key (revoked, wrong, or without access to the model).
    Retrying cannot help: the operator has to fix the key."""


class LLMRateLimitedError(LLMError):
    """The endpoint kept answering 429 after the retries allowed. ``retry_after``: the
    seconds it asked to wait (its ``Retry-After``), when it said."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMResponseError(LLMError):
    """The endpoint answered, but not with a usable chat completion."""


class ContextWindowExceededError(LLMError):
    """The provider rejected the prompt as longer than the model's context window."""


class StorageError(PagemindError):
    """A store operation failed."""


class StorageUnavailableError(StorageError):
    """The database cannot be reached."""


class ConcurrentUpdateError(StorageError):
    """The agent's state changed since it was read (another worker owns it now)."""


class LeaseLostError(ConcurrentUpdateError):
    """This worker's lease on the agent expired or was taken: it must not write for it."""


class ToolError(PagemindError):
    """A tool refused its input. The text goes back to the model as a failed function result."""


class MemoryLimitError(ToolError):
    """A write would take a working-context block past its character limit."""


class UploadError(PagemindError):
    """A file cannot be loaded into memory. ``str(error)`` is written for the user who sent it
    (too large, unsupported, unreadable...), with no internals."""


class DeliveryError(PagemindError):
    """A chat platform did not accept a message after the retries allowed (adapters raise
    their own subclasses with the platform's reason)."""
