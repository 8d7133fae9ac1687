"""The operator API's wire models: what requests carry and responses return.

They live here once: the server (``adapters.http_api``) validates requests and writes
responses with these same classes, and its OpenAPI schema is generated from them, so the
schema, the server and this client cannot drift apart. Times are ISO 8601 with a zone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

Role = Literal["admin", "viewer"]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True)


class _Request(BaseModel):
    """Request bodies refuse fields they do not know (a typo is a 422, not a no-op)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- general


class ErrorDetail(_Wire):
    code: str = Field(
        description="unauthorized, forbidden, not_found, invalid, conflict, too_large, "
        "rate_limited, queued, error"
    )
    message: str = Field(description="what went wrong, for a person")
    field: str | None = Field(None, description="the request field at fault, if one")
    current: int | None = Field(None, description="with a conflict: the current version")
    event_id: str | None = Field(None, description="with queued: the change's event id")
    block: MemoryBlock | None = Field(
        None, description="with a conflict over a memory block: the block as it is now"
    )


class ErrorBody(_Wire):
    """Every error response has this shape."""

    error: ErrorDetail


class Health(_Wire):
    status: Literal["ok"] = "ok"
    version: str


class Page(_Wire, Generic[T]):
    """One page of a listing. Pass ``next_cursor`` back as ``cursor`` for the next page;
    None: this was the last. Pages never repeat or skip an item, whatever is written
    between two reads."""

    items: list[T]
    next_cursor: str | None = None


class Deleted(_Wire):
    deleted: int = Field(description="how many items were deleted")


class AuditEntry(_Wire):
    id: str
    at: datetime
    key_id: str = Field(description='the API key that made the change ("cli": pagemind keys)')
    key_name: str
    action: str = Field(description="e.g. archival.insert, checkins.cancel, agents.budget")
    agent: str | None = None
    target: str | None = None
    summary: str = ""


# --------------------------------------------------------------------------- agents


class AgentSummary(_Wire):
    key: str = Field(description="e.g. telegram:user:12345, slack:channel:T01:C02")
    platform: str
    scope: Literal["user", "channel", "thread"]
    created_at: datetime
    last_active_at: datetime = Field(description="its last stored step (a turn, a check-in)")
    last_user_message_at: datetime | None = None
    tokens_today: int = Field(description="prompt + completion tokens this UTC day")
    daily_token_budget: int | None = Field(
        None, description="in force: the agent's own budget, else the global one; None: none"
    )
    paused: bool = Field(
        False, description="paused by an operator: messages are recorded, no model call"
    )


class MemoryBlock(_Wire):
    label: str
    value: str
    limit: int = Field(description="characters the block may hold")
    title: str | None = Field(None, description="who a person's block is about")
    version: int = Field(0, description="bumped by every change; name it when editing")


class AgentDetail(AgentSummary):
    budget_override: int | None = Field(None, description="the agent's own daily budget")
    timezone: str
    tokens_total: int
    calls_total: int
    messages: int = Field(description="messages in recall storage (every one ever)")
    passages: int = Field(description="searchable passages in archival storage")
    blocks: list[MemoryBlock] = Field(description="the working context")
    note: str = Field("", description="shown above the blocks (group agents)")
    summary: str = Field("", description="the recursive summary of evicted messages")
    summary_upto_seq: int = 0


# --------------------------------------------------------------------------- usage


class UsageDay(_Wire):
    day: str = Field(description="UTC day, YYYY-MM-DD")
    calls: int
    prompt_tokens: int = Field(description="including the cached part")
    cached_tokens: int
    completion_tokens: int
    cost: float | None = Field(
        None, description="at the configured price (PAGEMIND_PRICES); None if none is set"
    )


class Usage(_Wire):
    agent: str
    model: str = Field(description="the model the prices are for")
    days: list[UsageDay] = Field(description="oldest first; days with model calls only")
    daily_token_budget: int | None = Field(None, description="in force today")
    budget_override: int | None = None


class BudgetUpdate(_Request):
    daily_token_budget: int | None = Field(
        ..., ge=1, description="the agent's own tokens per UTC day; null: the global budget"
    )


# --------------------------------------------------------------------------- check-ins


class Schedule(_Wire):
    kind: Literal["once", "interval", "cron"]
    at: datetime | None = None
    every_seconds: int | None = None
    cron: str | None = None


class Checkin(_Wire):
    id: str
    note: str
    schedule: Schedule
    timezone: str
    created_by: Literal["operator", "user", "agent"]
    created_at: datetime
    next_due: datetime | None
    last_fired: datetime | None = None
    fired: int = 0
    skipped: int = 0
    tokens: int = 0


class CheckinCreate(_Request):
    """Exactly one of ``at``, ``every`` and ``cron``, in the agent's time zone."""

    note: str = Field(..., min_length=1, max_length=2000, description="what it is for")
    at: str | None = Field(None, description="once, at a local time: 2026-12-01 09:30")
    every: str | None = Field(None, description="an interval: 30m, 12h, 1d, 1w")
    cron: str | None = Field(None, description="a cron schedule: 0 9 * * 1-5")


# --------------------------------------------------------------------------- archival


class Passage(_Wire):
    id: str
    text: str
    source: str
    created_at: datetime
    section: str | None = None
    chunk_index: int = 0
    document_id: str | None = Field(None, description="the uploaded file it came from")


class ArchivalSource(_Wire):
    document_id: str | None = Field(
        description='the file\'s id; None for the passages saved without a file ("own")'
    )
    filename: str | None
    passages: int
    stored_at: datetime


class SearchHit(_Wire):
    passage: Passage
    score: float | None = Field(None, description="higher is better; see scoring")


class SearchResults(_Wire):
    items: list[SearchHit]
    total: int
    exact_total: bool = Field(description="False: there are at least total results")
    scoring: Literal["bm25", "rrf"] = Field(
        description="bm25: word search; rrf: words and meaning fused by reciprocal rank"
    )
    next_cursor: str | None = None


class PassageCreate(_Request):
    text: str = Field(..., min_length=1, description="saved as the agent's own passages")


class PassagesCreated(_Wire):
    items: list[Passage]


class UploadJob(_Wire):
    id: str
    agent: str
    filename: str
    status: Literal["running", "stored", "duplicate", "busy", "rejected", "failed"]
    created_at: datetime
    updated_at: datetime
    done: int = Field(0, description="passages read so far")
    total: int = Field(0, description="passages in the file (0 until it is parsed)")
    passages: int = Field(0, description="searchable once stored")
    message: str = ""

    @property
    def finished(self) -> bool:
        return self.status != "running"


# --------------------------------------------------------------------------- messages

MessageRole = Literal["user", "assistant", "tool", "system"]


class FunctionCall(_Wire):
    id: str
    name: str
    arguments: str = Field(description="the JSON text the model wrote")
    result: str | None = Field(None, description="what the function returned (None: not run)")


class AgentMessage(_Wire):
    """One entry of the agent's log: a person's message, the model's answer (inner thoughts
    and function calls, with their results), a function's result, or a note from Pagemind."""

    id: int = Field(description="its place in the agent's log (1, 2, 3, ...)")
    role: MessageRole = Field(
        description="user: a person; assistant: the model; tool: a function's result; "
        "system: Pagemind (alerts, heartbeats, check-ins, uploads)"
    )
    kind: str = Field(
        description="user_message, assistant, tool_result, system_alert, heartbeat, timer, upload"
    )
    text: str = Field(
        description="what was said: the person's text, what the agent sent with send_message, "
        "a function's result, or the note"
    )
    thoughts: str = Field("", description="the model's inner thoughts (assistant)")
    calls: list[FunctionCall] = Field(
        default_factory=list, description="the functions the model called (assistant)"
    )
    call_id: str | None = Field(None, description="the call this result answers (tool)")
    function: str | None = Field(None, description="the function this result is from (tool)")
    at: datetime
    author_id: str | None = Field(None, description="the person's platform id (user)")
    author_name: str | None = None
    event_id: str | None = Field(None, description="the event whose turn wrote it")


# --------------------------------------------------------------------------- context window


class ContextMessage(_Wire):
    id: int = Field(description="the message's place in the agent's log")
    role: MessageRole
    kind: str
    tokens: int = Field(description="as rendered for the model, with its overhead")


class ContextSummary(_Wire):
    tokens: int = Field(description="0 without a summary")
    text: str = Field("", description="the recursive summary of the messages out of view")
    covers_upto: int = Field(0, description="it covers messages 1 to this one (0: none)")


class ContextWindow(_Wire):
    """The agent's context window as its next model call would send it (before the message
    that starts that call), counted with the agent's own layout code. ``total`` is the sum of
    the parts; ``corrected_total`` is what the lines are checked against."""

    agent: str
    window: int = Field(description="the model's context window (PAGEMIND_CONTEXT_WINDOW)")
    reply_reserve: int = Field(description="tokens kept free for the reply")
    instructions: int = Field(description="the static instructions (system prompt)")
    tools: int = Field(description="the function schemas")
    reply_priming: int = Field(description="the reply's fixed priming tokens")
    working_context: int = Field(description="the working-context blocks shown")
    summary: ContextSummary
    messages: list[ContextMessage] = Field(description="the FIFO queue, oldest first")
    messages_tokens: int
    total: int
    correction: float = Field(description="learned from the provider's counts (>= 1)")
    corrected_total: int
    free: int = Field(description="tokens left before the next call flushes")
    warning_line: int = Field(description="past it the agent is told to save what matters")
    flush_line: int = Field(description="past it the oldest messages go into the summary")
    warning_sent: bool
    would_flush: bool = Field(description="the next call flushes first")


# --------------------------------------------------------------------------- send a message


class MessageSend(_Request):
    """A message to the agent as a person (through its inbox, as a platform's would)."""

    text: str = Field(..., min_length=1, description="what the person says")
    user_id: str | None = Field(
        None, max_length=200, description="the person's platform id (the author the agent sees)"
    )
    user_name: str | None = Field(None, max_length=200, description="their display name")
    stream: bool = Field(False, description="true: server-sent events, one per step")


class ThoughtStep(_Wire):
    kind: Literal["thought"] = "thought"
    message_id: int
    at: datetime
    text: str = Field(description="the model's inner thoughts")


class FunctionCallStep(_Wire):
    kind: Literal["function_call"] = "function_call"
    message_id: int
    at: datetime
    name: str
    arguments: str
    call_id: str


class FunctionResultStep(_Wire):
    kind: Literal["function_result"] = "function_result"
    message_id: int
    at: datetime
    name: str | None = None
    call_id: str | None = None
    text: str = Field(description="what the function returned")


class ReplyStep(_Wire):
    kind: Literal["reply"] = "reply"
    message_id: int
    at: datetime
    text: str = Field(description="what the agent said to the person")


class DoneStep(_Wire):
    kind: Literal["done"] = "done"
    event_id: str = Field(description="the message's event id (its turn's id)")
    replies: list[str] = Field(description="everything the agent said, in order")
    error: str | None = Field(None, description="why the turn failed, if it did")


TurnStep = ThoughtStep | FunctionCallStep | FunctionResultStep | ReplyStep | DoneStep


class MessageSent(_Wire):
    """The turn a message started, once it is done."""

    event_id: str
    replies: list[str] = Field(description="everything the agent said, in order")
    error: str | None = None
    steps: list[ThoughtStep | FunctionCallStep | FunctionResultStep | ReplyStep] = Field(
        description="thoughts, function calls and results, and replies, in order"
    )


# --------------------------------------------------------------------------- turn traces


class PromptTokens(_Wire):
    """Our count of a prompt, part by part (the agent's own layout code)."""

    instructions: int
    tools: int
    reply_priming: int
    working_context: int
    summary: int
    messages: int
    total: int


class TurnSummary(_Wire):
    id: str = Field(description="the turn's id: the number of its first message")
    event_id: str
    at: datetime
    started_by: AgentMessage = Field(description="the message that started it")
    replies: list[str] = Field(description="what the agent said")
    steps: int = Field(description="model calls, failed ones included")
    tokens: int = Field(description="prompt + completion tokens, as the provider reported")
    error: str | None = Field(None, description="the last failed call's error")


class SearchHitTrace(_Wire):
    id: str = Field(description="a message's number or a passage's id")
    score: float | None = None


class TracedCall(_Wire):
    id: str
    name: str
    arguments: str
    result: str | None = None
    duration_ms: float | None = None
    hits: list[SearchHitTrace] = Field(
        default_factory=list, description="for searches: what was found, with scores"
    )


class TracedPrompt(_Wire):
    first_message: int = Field(description="the prompt held messages first..last")
    last_message: int
    system_text: str | None = Field(None, description="None: not stored (an older turn)")
    tools_changed: bool = Field(description="the functions differ from those it was sent")
    request_body: str | None = Field(
        None, description="the exact JSON request body sent to the model, rebuilt"
    )
    timezone: str
    max_message_tokens: int
    max_reply_tokens: int


class TurnStepTrace(_Wire):
    at: datetime
    message_id: int | None = Field(None, description="the answer's message (None: failed)")
    prompt: TracedPrompt
    tokens: PromptTokens
    thoughts: str = ""
    calls: list[TracedCall] = Field(default_factory=list)
    prompt_tokens: int | None = Field(None, description="as the provider reported")
    cached_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    latency_ms: float
    error: str | None = Field(None, description="why the call failed")


class TurnTrace(TurnSummary):
    messages: list[AgentMessage] = Field(description="everything the turn stored, in order")
    model_calls: list[TurnStepTrace] = Field(description="each model call, in order")


# --------------------------------------------------------------------------- memory blocks


class MemoryBlocks(_Wire):
    blocks: list[MemoryBlock] = Field(description="the agent's working context")


class BlockUpdate(_Request):
    """A block's new text, and the version it was edited from (409 if it changed since)."""

    value: str = Field(..., description="the whole new text, within the block's limit")
    version: int = Field(..., ge=0, description="the block's version this edit starts from")


class Editor(_Wire):
    kind: Literal["agent", "operator", "person"]
    id: str = Field(description="the agent's key, the API key's id, or the person's id")
    name: str = Field("", description="the function the agent called, the key's or person's name")


class BlockEdit(_Wire):
    version: int = Field(description="the block's version this edit produced")
    before: str
    after: str
    by: Editor
    at: datetime


# --------------------------------------------------------------------------- export, erase


class AgentExport(_Wire):
    """Everything one agent holds, every tier, as the person's own ``/export`` gives it."""

    format: str = Field(description='"pagemind-agent-export"')
    format_version: int
    agent_key: str
    exported_at: datetime
    state: dict[str, Any] | None = Field(
        description="working context (blocks with versions), summary, usage, time zone"
    )
    messages: list[dict[str, Any]] = Field(description="recall: every message, oldest first")
    passages: list[dict[str, Any]] = Field(description="archival, without embeddings")
    sources: list[ArchivalSource] = Field(default_factory=list)
    pending_events: list[dict[str, Any]] = Field(description="queued, not yet processed")
    failed_events: list[dict[str, Any]] = Field(default_factory=list)
    checkins: list[dict[str, Any]] = Field(default_factory=list)
    upload_jobs: list[dict[str, Any]] = Field(default_factory=list)
    memory_edits: list[dict[str, Any]] = Field(
        default_factory=list, description="each change of a block, with who made it"
    )


class AgentErased(_Wire):
    agent: str
    messages: int
    passages: int
    checkins: int
    upload_jobs: int
    memory_edits: int


# --------------------------------------------------------------------------- persons


class PersonAgent(_Wire):
    agent: AgentSummary
    block: str | None = Field(
        None, description="their block in a group agent (human:<id>); None: their own agent"
    )


class Person(_Wire):
    platform: str
    user_id: str = Field(description="their platform id (Slack: TEAM:USER)")
    agents: list[PersonAgent] = Field(description="every agent that holds them, in key order")


class PersonGroupPart(_Wire):
    agent: str
    block: MemoryBlock | None = Field(description="their block in this group agent")
    memory_edits: list[BlockEdit] = Field(description="that block's edits, oldest first")
    messages: list[dict[str, Any]] = Field(description="the messages they wrote there")


class PersonExport(_Wire):
    platform: str
    user_id: str
    exported_at: datetime
    agents: list[AgentExport] = Field(description="their own agents, every tier")
    groups: list[PersonGroupPart] = Field(description="what each group agent holds of them")


class PersonErased(_Wire):
    platform: str
    user_id: str
    agents_erased: list[str] = Field(description="their own agents, erased whole")
    removed_from: list[str] = Field(description="group agents their block was removed from")


ErrorDetail.model_rebuild()
ErrorBody.model_rebuild()

# --------------------------------------------------------------------------- keys


class KeyIdentity(_Wire):
    """Who a key is (``GET /api/me``): never the key itself."""

    key_id: str
    name: str
    role: Role
