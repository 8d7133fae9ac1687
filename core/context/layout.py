"""Main context: what the model sees on each call, in a cache-friendly order, and its size.

The prompt is one system message (static instructions, then the working context, then the
recursive summary) followed by the FIFO queue. Tool schemas travel beside it. Everything that
changes rarely comes first; times are stamped on each message, never in the prefix, so a
provider's prompt cache keeps matching from one call to the next.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from core.clock import stamp
from core.context.memory import WorkingContext
from core.context.tokens import TOKENS_PER_MESSAGE, TOKENS_PER_REPLY, TokenCounter
from core.messages import Message
from core.ports.model import PromptMessage, ToolSchema

_HEADERS = {
    "system_alert": "System alert",
    "heartbeat": "Heartbeat",
    "timer": "Scheduled check-in due",
    "upload": "System",
}


@dataclass(frozen=True, slots=True)
class PromptTexts:
    """The texts the composition root loads (from ``config/prompts``) for every agent."""

    system: str
    summarize: str
    persona: str
    human: str


class PromptLayout:
    """Renders messages for the model and counts tokens; static parts are counted once."""

    def __init__(
        self,
        instructions: str,
        tools: tuple[ToolSchema, ...],
        counter: TokenCounter,
        *,
        max_message_tokens: int,
    ) -> None:
        self.instructions = instructions
        self.tools = tools
        self.counter = counter
        self.max_message_tokens = max_message_tokens
        # the parts of every prompt that never change: the instructions (with the system
        # message's own overhead), the tool schemas, and the priming of the reply
        self.instructions_tokens = TOKENS_PER_MESSAGE + counter.count(instructions)
        self.tools_tokens = sum(counter.count_json(tool_wire(t)) + 8 for t in tools)
        wired = json.dumps([tool_wire(t) for t in tools], sort_keys=True, ensure_ascii=False)
        self.tools_sha256 = hashlib.sha256(wired.encode()).hexdigest()  # names them in traces
        self.reply_priming_tokens = TOKENS_PER_REPLY
        self.fixed_tokens = self.instructions_tokens + self.tools_tokens + self.reply_priming_tokens

    def system_message(self, memory: WorkingContext, summary: str) -> PromptMessage:
        parts = [self.instructions, memory.render()]
        if summary:
            parts.append(
                f"<summary_of_earlier_messages>\n{summary}\n</summary_of_earlier_messages>"
            )
        return PromptMessage("system", "\n\n".join(parts))

    def system_tokens(self, memory: WorkingContext, summary: str) -> int:
        """Tokens the system message adds beyond the fixed part (working context, summary)."""
        return self.memory_tokens(memory) + self.summary_tokens(summary)

    def memory_tokens(self, memory: WorkingContext) -> int:
        """What the working context adds to the system message."""
        return self.counter.count(memory.render()) + 2

    def summary_tokens(self, summary: str) -> int:
        """What the recursive summary adds to the system message (0 without one)."""
        return self.counter.count(summary) + 20 if summary else 0

    def render(self, message: Message, tz: ZoneInfo) -> PromptMessage:
        if message.kind == "assistant":
            return PromptMessage("assistant", message.content, tool_calls=message.tool_calls)
        if message.kind == "tool_result":
            return PromptMessage("tool", message.content, tool_call_id=message.tool_call_id)
        when = stamp(message.created_at, tz)
        if message.kind == "user_message":
            who = f" {message.author_name}:" if message.author_name else ""
            header = f"[{when}]{who} "
        else:
            header = f"[{when}] {_HEADERS[message.kind]}: "
        content = self._fit(message.content, message.seq)
        return PromptMessage("user", header + content)

    def count(self, message: PromptMessage) -> int:
        n = TOKENS_PER_MESSAGE + self.counter.count(message.content)
        for call in message.tool_calls:
            n += 4 + self.counter.count(call.name) + self.counter.count(call.arguments)
        return n

    def _fit(self, text: str, seq: int) -> str:
        if len(text) < self.max_message_tokens:  # fewer characters than tokens: it fits
            return text
        n = self.counter.count(text)
        if n <= self.max_message_tokens:
            return text
        head = self.counter.truncate(text, self.max_message_tokens - 60)
        return (
            f"{head}\n[... cut: this message (#{seq}) is {n:,} tokens, too long to show in "
            "full. All of it is in recall storage, and in archival memory as "
            f"'message #{seq}': search there for the rest.]"
        )


def tool_wire(tool: ToolSchema) -> dict[str, object]:
    """A tool schema in the OpenAI wire shape (also what its token count is measured on)."""
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": dict(tool.parameters),
        },
    }
