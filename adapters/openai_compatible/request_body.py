"""Chat-completion request bodies as JSON text, each message written once.

An agent's context is the same messages from one call to the next, plus the new ones: the
core renders each message once and hands the very same objects to every later request. So
each message's JSON is written the first time it is sent and reused while it stays at its
place in the context; a call then only joins the pieces. Serialising the whole body every
time (``json.dumps`` of a dictionary) cost about 3 ms per call at 500 messages on the
development machine, and grew with every message.

The text is exactly what the SDK writes for the same body (its ``openapi_dumps``: compact
separators, non-ASCII kept, no NaN), in the order ``chat.completions.create`` sends the
fields; ``tests/e2e/test_openai_request_body.py`` compares the bytes.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from itertools import compress
from operator import is_, not_
from typing import Any

from core.context.layout import tool_wire
from core.ports.model import ChatRequest, PromptMessage, ToolSchema

# the messages of an agent's last request, and their JSON texts
_Written = tuple[tuple[PromptMessage, ...], list[bytes]]


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def wire_message(message: PromptMessage) -> dict[str, Any]:
    """A message in the OpenAI chat format."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.content}


class RequestBodies:
    """Writes request bodies, keeping the JSON of the messages of the last request of each
    of the ``contexts`` most recently served agents (per purpose: a summary request has
    messages of its own)."""

    def __init__(self, contexts: int = 16) -> None:
        self._contexts = contexts
        self._written: OrderedDict[tuple[str, str], _Written] = OrderedDict()
        self._tools: tuple[tuple[ToolSchema, ...], bytes] = ((), b"[]")

    def write(
        self,
        request: ChatRequest,
        *,
        model: str,
        max_tokens_param: str,
        temperature: float | None,
    ) -> bytes:
        key = (request.agent_key, request.purpose)
        before, texts = self._written.pop(key, ((), []))
        messages = request.messages
        # Where a message is the same object as at the same place last time, its text is
        # reused (a C-speed scan: this runs over every message of every call). After a flush
        # the places shift and everything is written again, once.
        texts = texts[: len(messages)]
        changed = compress(range(len(texts)), map(not_, map(is_, messages, before)))
        for i in changed:
            texts[i] = _json(wire_message(messages[i]))
        texts.extend(_json(wire_message(m)) for m in messages[len(texts) :])
        self._written[key] = (messages, texts)
        while len(self._written) > self._contexts:
            self._written.popitem(last=False)
        fields = [
            b'"model":' + _json(model),
            b'"messages":[' + b",".join(texts) + b"]",
            _json(max_tokens_param) + b":" + _json(request.max_reply_tokens),
        ]
        if temperature is not None:
            fields.append(b'"temperature":' + _json(temperature))
        if request.tools:
            fields.append(b'"tools":' + self._tools_json(request.tools))
        return b"{" + b",".join(fields) + b"}"

    def _tools_json(self, tools: tuple[ToolSchema, ...]) -> bytes:
        if self._tools[0] is not tools:  # the runtime sends the same tuple every time
            self._tools = (tools, _json([tool_wire(t) for t in tools]))
        return self._tools[1]
