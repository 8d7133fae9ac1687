"""The tool registry: schemas generated from Python signatures, arguments validated first.

A tool is a plain function (sync or async). Its JSON schema comes from its type hints and its
docstring (the first paragraph describes the tool; an ``Args:`` section describes the
parameters). A parameter annotated ``ToolContext`` receives the running agent's context and
is hidden from the model. Every tool except ``send_message`` also takes ``request_heartbeat``.

Whatever goes wrong (unknown name, arguments that are not JSON, that fail validation, or an
exception in the tool) comes back as a failed ``ToolResult`` with a heartbeat, so the model
sees the error and can correct itself on the next step.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, get_type_hints
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, create_model

from core.context.memory import WorkingContext
from core.context.tokens import TokenCounter
from core.errors import ToolError
from core.events import Address, Event, SendReply, reply_address
from core.messages import SearchHit, ToolCall
from core.ports.model import ToolSchema
from core.records import Page
from core.tools.formatting import PAGE_TOKENS

if TYPE_CHECKING:
    from core.checkins.service import CheckinService
    from core.ports import ArchivalStore, Embedder, RecallStore

log = logging.getLogger(__name__)

HEARTBEAT = "request_heartbeat"
HEARTBEAT_SCHEMA: dict[str, JsonValue] = {
    "type": "boolean",
    "description": "true: act again on the result (see the instructions)",
}
ToolFunction = Callable[..., Any]


@dataclass
class ToolContext:
    """What a running tool may use: the agent's stores and the turn's scratch state.

    Tools change memory by assigning ``ctx.memory``; the change is committed with the step.
    """

    agent_key: str
    event: Event
    call_key: str
    now: datetime
    timezone: ZoneInfo
    memory: WorkingContext
    recall: RecallStore
    archival: ArchivalStore
    counter: TokenCounter
    visible_upto_seq: int
    embedder: Embedder | None = None
    home: Address | None = None
    page_size: int = 5
    page_tokens: int = PAGE_TOKENS  # a search result page is cut to fit this
    block_limit: int = 2000
    checkins: CheckinService | None = None
    replies: list[SendReply] = field(default_factory=list)
    hits: list[SearchHit] = field(default_factory=list)  # what this call's searches found

    def found(self, page: Page[Any], name: Callable[[Any], str]) -> None:
        """Note a search's results (with their scores, where the store ranks) for the trace."""
        scores: Sequence[float | None] = page.scores or [None] * len(page.items)
        self.hits.extend(
            SearchHit(id=name(item), score=score)
            for item, score in zip(page.items, scores, strict=False)
        )

    def send(self, text: str) -> None:
        self.replies.append(
            SendReply(
                agent_key=self.agent_key,
                event_id=self.event.event_id,
                idempotency_key=f"{self.call_key}:{len(self.replies)}",
                text=text,
                address=reply_address(self.event, self.home),
            )
        )


@dataclass(frozen=True, slots=True)
class ToolResult:
    ok: bool
    text: str
    heartbeat: bool

    @classmethod
    def failed(cls, error: str) -> ToolResult:
        return cls(ok=False, text=f"Failed: {error}", heartbeat=True)


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args_model: type[BaseModel]
    func: ToolFunction
    context_param: str | None
    heartbeat: bool
    schema: ToolSchema

    async def run(self, args: BaseModel, ctx: ToolContext, seconds: float) -> object:
        kwargs = {name: getattr(args, name) for name in type(args).model_fields}
        if self.context_param:
            kwargs[self.context_param] = ctx
        if inspect.iscoroutinefunction(self.func):
            call: Awaitable[object] = self.func(**kwargs)
        else:
            call = asyncio.to_thread(self.func, **kwargs)
        async with asyncio.timeout(seconds):
            return await call


class ToolRegistry:
    def __init__(self, *, timeout: float = 30.0, max_result_chars: int = 8000) -> None:
        self._tools: dict[str, Tool] = {}
        self._schemas: tuple[ToolSchema, ...] | None = None
        self.timeout = timeout
        self.max_result_chars = max_result_chars

    def register(
        self, func: ToolFunction, *, name: str | None = None, heartbeat: bool = True
    ) -> Tool:
        tool = build_tool(func, name=name, heartbeat=heartbeat)
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        self._schemas = None
        return tool

    def names(self) -> list[str]:
        return list(self._tools)

    def schemas(self) -> tuple[ToolSchema, ...]:
        if self._schemas is None:
            self._schemas = tuple(t.schema for t in self._tools.values())
        return self._schemas

    async def execute(self, call: ToolCall, ctx: ToolContext) -> ToolResult:
        tool = self._tools.get(call.name)
        if tool is None:
            return ToolResult.failed(
                f"there is no function {call.name!r}. Functions: {', '.join(self._tools)}."
            )
        try:
            raw = json.loads(call.arguments) if call.arguments.strip() else {}
        except ValueError as exc:
            return ToolResult.failed(f"the arguments of {call.name} are not valid JSON ({exc}).")
        if not isinstance(raw, dict):
            return ToolResult.failed(f"the arguments of {call.name} must be a JSON object.")
        heartbeat = _as_bool(raw.pop(HEARTBEAT, None)) if tool.heartbeat else False
        try:
            args = tool.args_model.model_validate(raw)
        except ValidationError as exc:
            return ToolResult.failed(f"invalid arguments for {call.name}: {_explain(exc)}")
        try:
            value = await tool.run(args, ctx, self.timeout)
        except ToolError as exc:
            return ToolResult.failed(str(exc))
        except TimeoutError:
            return ToolResult.failed(f"{call.name} did not finish within {self.timeout:g} s.")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "tool %s raised", call.name, exc_info=True, extra={"agent_key": ctx.agent_key}
            )
            return ToolResult.failed(f"{call.name} raised {type(exc).__name__}: {exc}")
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > self.max_result_chars:
            cut = len(text) - self.max_result_chars
            text = f"{text[: self.max_result_chars]}\n[... {cut:,} more characters cut]"
        return ToolResult(ok=True, text=text, heartbeat=heartbeat)


def build_tool(func: ToolFunction, *, name: str | None = None, heartbeat: bool = True) -> Tool:
    """Make a ``Tool`` from a function's signature and docstring."""
    tool_name = name or func.__name__
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", tool_name):
        raise ValueError(f"tool name {tool_name!r} must be 1-64 letters, digits, _ or -")
    description, param_docs = parse_docstring(inspect.getdoc(func) or "")
    if not description:
        raise ValueError(f"tool {tool_name!r} needs a docstring: it is the model's only guide")
    hints = get_type_hints(func)
    fields: dict[str, Any] = {}
    context_param = None
    for param in inspect.signature(func).parameters.values():
        hint = hints.get(param.name)
        if hint is ToolContext:
            context_param = param.name
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ValueError(f"tool {tool_name!r}: *args/**kwargs cannot be described to a model")
        if hint is None:
            raise ValueError(f"tool {tool_name!r}: parameter {param.name!r} needs a type hint")
        if param.name == HEARTBEAT:
            raise ValueError(f"tool {tool_name!r}: {HEARTBEAT} is added by Pagemind")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hint, Field(default, description=param_docs.get(param.name)))
    args_model = create_model(
        f"{tool_name}_arguments", __config__=ConfigDict(extra="ignore"), **fields
    )
    return Tool(
        name=tool_name,
        description=description,
        args_model=args_model,
        func=func,
        context_param=context_param,
        heartbeat=heartbeat,
        schema=ToolSchema(tool_name, description, _parameters_schema(args_model, heartbeat)),
    )


_ARGS_SECTION = re.compile(r"^(Args|Arguments|Parameters):\s*$", re.M)
_PARAM_LINE = re.compile(r"(\w+)(?:\s*\([^)]*\))?:\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (description, {parameter: description}).

    The description is everything before ``Args:``; a parameter's text may continue on more
    deeply indented lines; the section ends at the first line indented less than it.
    """
    match = _ARGS_SECTION.search(doc)
    head, body = (doc[: match.start()], doc[match.end() :]) if match else (doc, "")
    description = " ".join(head.split())
    params: dict[str, str] = {}
    current: str | None = None
    base: int | None = None
    for line in body.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        base = indent if base is None else base
        if indent < base:
            break
        param = _PARAM_LINE.match(line.strip())
        if indent == base and param:
            current = param.group(1)
            params[current] = param.group(2).strip()
        elif current is not None and indent > base:
            params[current] = f"{params[current]} {line.strip()}"
        else:
            break
    return description, params


def _parameters_schema(model: type[BaseModel], heartbeat: bool) -> dict[str, JsonValue]:
    raw = model.model_json_schema()
    properties: dict[str, JsonValue] = {}
    for key, prop in raw.get("properties", {}).items():
        properties[key] = _compact(prop)
    required: list[JsonValue] = list(raw.get("required", []))
    if heartbeat:
        properties[HEARTBEAT] = dict(HEARTBEAT_SCHEMA)
        required.append(HEARTBEAT)
    schema: dict[str, JsonValue] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if "$defs" in raw:
        schema["$defs"] = _compact(raw["$defs"])
    return schema


def _compact(value: Any) -> Any:
    """Drop what costs tokens and tells the model nothing (titles, null defaults)."""
    if isinstance(value, dict):
        out = {k: _compact(v) for k, v in value.items() if k != "title"}
        if out.get("default", 0) is None:
            del out["default"]
        any_of = out.get("anyOf")
        if isinstance(any_of, list) and {"type": "null"} in any_of and len(any_of) == 2:
            (only,) = [v for v in any_of if v != {"type": "null"}]
            del out["anyOf"]
            out = {**only, **out}
        return out
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def _as_bool(value: object) -> bool:
    """Read ``request_heartbeat`` leniently; when it is missing, keep the chain going."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "no", "")
    return bool(value)


def _explain(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "arguments"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
