"""The request body the model server receives, compared with what the SDK's typed
``chat.completions.create`` sends for the same conversation.

The adapter builds the body itself and posts it through the SDK's request path, to skip the
parameter transform ``create`` runs over every message (a third of a second per call with a
few hundred messages in the context). These tests keep that shortcut honest: for a long
conversation with function calls, their results, plain assistant text, an empty reply,
non-ASCII text, temperature and the reply limit, the server must receive the same bytes and
the same headers either way. The reference side is the OpenAI chat format the adapter has
always sent (``role``/``content``, ``tool_calls`` with ``null`` content, ``tool_call_id``)
handed to ``create``, so a change of shape on either side fails here.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from adapters.openai_compatible.chat import OpenAICompatibleChatModel
from core.messages import ToolCall
from core.ports.model import ChatRequest, PromptMessage, ToolSchema
from tests.support.openai_server import ScriptedOpenAIServer, text_reply

TOOLS = (
    ToolSchema(
        "send_message",
        "Send a message to the user.",
        {
            "type": "object",
            "properties": {
                "message": {"type": "string", "description": "What to say."},
                "request_heartbeat": {"type": "boolean"},
            },
            "required": ["message"],
        },
    ),
    ToolSchema(
        "core_memory_append",
        "Append to a block of working context.",
        {
            "type": "object",
            "properties": {
                "label": {"type": "string", "enum": ["persona", "human"]},
                "content": {"type": "string"},
            },
            "required": ["label", "content"],
        },
    ),
)


def conversation(turns: int) -> tuple[PromptMessage, ...]:
    """A system message, then ``turns`` exchanges in every shape the core produces (and
    plain assistant text, which other callers may send)."""
    messages = [
        PromptMessage(
            "system", "You are Pagemind.\n\n<persona>\nWarm, brief.\n</persona>\n<human>\n</human>"
        )
    ]
    for i in range(turns):
        messages.append(
            PromptMessage(
                "user",
                f'[2026-11-21 09:{i % 60:02d}] Ana: message {i}: "tea" ü 🙂 \\ tab\tnewline\n',
            )
        )
        call = f"call_{i}"
        if i % 4 == 0:  # thoughts, a memory edit, its result, then a reply
            arguments = json.dumps({"label": "human", "content": f"Fact {i}: likes ☕"})
            messages += [
                PromptMessage(
                    "assistant",
                    f"Noting fact {i}.",
                    tool_calls=(ToolCall(id=call, name="core_memory_append", arguments=arguments),),
                ),
                PromptMessage("tool", '{"status": "OK"}', tool_call_id=call),
            ]
        if i % 4 == 1:  # two calls at once, no thoughts
            messages += [
                PromptMessage(
                    "assistant",
                    "",
                    tool_calls=(
                        ToolCall(id=f"{call}a", name="send_message", arguments='{"message":"a"}'),
                        ToolCall(id=f"{call}b", name="send_message", arguments='{"message":"b"}'),
                    ),
                ),
                PromptMessage("tool", "Sent.", tool_call_id=f"{call}a"),
                PromptMessage("tool", "Sent.", tool_call_id=f"{call}b"),
            ]
            continue
        if i % 4 == 2:  # plain text, no function call
            messages.append(PromptMessage("assistant", f"Plain answer {i}."))
            continue
        arguments = json.dumps({"message": f"Reply {i} — noted!", "request_heartbeat": False})
        messages += [
            PromptMessage(
                "assistant",
                "",
                tool_calls=(ToolCall(id=f"{call}r", name="send_message", arguments=arguments),),
            ),
            PromptMessage("tool", "", tool_call_id=f"{call}r"),
        ]
    return tuple(messages)


def chat_format(message: PromptMessage) -> dict[str, Any]:
    """A message in the OpenAI chat format, as the adapter has always sent it (restated
    here on purpose: it is the reference the adapter's own writer is held to)."""
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


@pytest.fixture
async def server():
    async with ScriptedOpenAIServer(default=text_reply("ok")) as s:
        yield s


def reference(
    request: ChatRequest, openai_itself: bool, temperature: float | None
) -> dict[str, Any]:
    """The arguments ``chat.completions.create`` gets for the request."""
    arguments: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [chat_format(m) for m in request.messages],
        ("max_completion_tokens" if openai_itself else "max_tokens"): request.max_reply_tokens,
    }
    if request.tools:
        arguments["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": dict(t.parameters),
                },
            }
            for t in request.tools
        ]
    if temperature is not None:
        arguments["temperature"] = temperature
    return arguments


@pytest.mark.parametrize(
    ("openai_itself", "temperature", "tools"),
    [
        (False, 0.3, TOOLS),  # a local server: max_tokens
        (True, 0.0, TOOLS),  # OpenAI's own API: max_completion_tokens
        (False, None, ()),  # a summary request: no functions, the server's temperature
    ],
)
async def test_the_server_receives_what_chat_completions_create_sends(
    server: ScriptedOpenAIServer,
    openai_itself: bool,
    temperature: float | None,
    tools: tuple[ToolSchema, ...],
) -> None:
    messages = conversation(150)
    assert len(messages) > 500
    # As the runtime calls it: the same message objects again with more after them, a new
    # system message (an edited working context) in front of the same history, then the
    # oldest messages gone (a flush).
    system = PromptMessage("system", messages[0].content + "\n<human>\nLikes tea\n</human>")
    requests = [
        ChatRequest(messages=messages[:300], tools=tools, max_reply_tokens=777, agent_key="a"),
        ChatRequest(messages=messages, tools=tools, max_reply_tokens=777, agent_key="a"),
        ChatRequest(
            messages=(system, *messages[1:]), tools=tools, max_reply_tokens=777, agent_key="a"
        ),
        ChatRequest(
            messages=(system, *messages[40:]), tools=tools, max_reply_tokens=777, agent_key="a"
        ),
    ]
    client = openai.AsyncOpenAI(api_key="test-key", base_url=server.base_url, max_retries=0)
    model = OpenAICompatibleChatModel(
        model="gpt-4o-mini",
        api_key="test-key",
        # the reply-limit parameter is chosen by where the adapter believes it talks to
        base_url=None if openai_itself else server.base_url,
        temperature=temperature,
        client=client,
    )
    try:
        for request in requests:
            await model.complete(request)
            await client.chat.completions.create(**reference(request, openai_itself, temperature))
    finally:
        await client.close()
    assert len(server.raw_requests) == 2 * len(requests)
    for i in range(0, len(server.raw_requests), 2):
        (ours, our_headers), (sdks, sdk_headers) = server.raw_requests[i : i + 2]
        assert json.loads(ours) == json.loads(sdks)
        assert ours == sdks, "same JSON, written differently"
        assert our_headers == sdk_headers
        assert our_headers["Authorization"] == "Bearer test-key"
        assert our_headers["Content-Type"] == "application/json"
