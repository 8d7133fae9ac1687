"""The recursive summary: old summary + evicted messages -> new summary, made by the LLM.

If the evicted messages are too many for one call, they are folded in chunk by chunk, each
call summarising the previous result plus the next chunk. If the model fails, the caller keeps
the old summary with a note pointing at recall storage: nothing is lost, since eviction never
deletes a message from recall.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo

from core.clock import stamp
from core.context.tokens import TokenCounter
from core.errors import LLMResponseError
from core.messages import Message
from core.ports.model import ChatModel, ChatRequest, PromptMessage, Usage
from core.turn.model_call import complete_guarded

LINE_LIMIT_CHARS = 2000


class Summarizer:
    def __init__(
        self,
        model: ChatModel,
        counter: TokenCounter,
        instructions: str,
        *,
        input_budget: int,
        summary_tokens: int,
    ) -> None:
        self.model = model
        self.counter = counter
        self.instructions = instructions
        self.input_budget = input_budget
        self.summary_tokens = summary_tokens

    async def summarize(
        self,
        previous: str,
        evicted: Sequence[Message],
        tz: ZoneInfo,
        agent_key: str,
        on_usage: Callable[[Usage], None],
    ) -> str:
        """The new summary; ``on_usage`` is told what each model call cost."""
        summary = previous
        for chunk in self._chunks(previous, [transcript_line(m, tz) for m in evicted]):
            summary = await self._call(summary, chunk, agent_key, on_usage)
        return summary

    def _chunks(self, previous: str, lines: list[str]) -> list[list[str]]:
        room = self.input_budget - self.counter.count(self.instructions) - self.summary_tokens * 2
        room = max(room, 256)
        chunks: list[list[str]] = [[]]
        used = 0
        for line in lines:
            n = self.counter.count(line) + 1
            if chunks[-1] and used + n > room:
                chunks.append([])
                used = 0
            if n > room:
                line = self.counter.truncate(line, room)
                n = room
            chunks[-1].append(line)
            used += n
        return chunks

    async def _call(
        self, previous: str, lines: list[str], agent_key: str, on_usage: Callable[[Usage], None]
    ) -> str:
        body = f"Previous summary:\n{previous or '(none)'}\n\nMessages leaving view:\n" + "\n".join(
            lines
        )
        request = ChatRequest(
            messages=(
                PromptMessage("system", self.instructions),
                PromptMessage("user", body),
            ),
            tools=(),
            max_reply_tokens=self.summary_tokens,
            purpose="summary",
            agent_key=agent_key,
        )
        response = await complete_guarded(self.model, request)
        if response.usage:
            on_usage(response.usage)
        text = (response.content or "").strip()
        if not text:
            raise LLMResponseError("the model returned an empty summary")
        return self.counter.truncate(text, self.summary_tokens)


def transcript_line(message: Message, tz: ZoneInfo) -> str:
    when = stamp(message.created_at, tz)
    if message.kind == "assistant":
        calls = "; ".join(f"{c.name}({c.arguments})" for c in message.tool_calls)
        thought = f"(thinking: {message.content}) " if message.content else ""
        text = f"you: {thought}{calls}"
    elif message.kind == "tool_result":
        text = f"result of {message.tool_name}: {message.content}"
    elif message.kind == "user_message":
        text = f"{message.author_name or 'user'}: {message.content}"
    else:
        text = f"{message.kind}: {message.content}"
    if len(text) > LINE_LIMIT_CHARS:
        text = text[:LINE_LIMIT_CHARS] + " …"
    return f"#{message.seq} [{when}] {text}"


def fallback_summary(
    previous: str, evicted: Sequence[Message], tz: ZoneInfo, counter: TokenCounter, limit: int
) -> str:
    """The old summary plus a note that points at recall storage for what was not summarised."""
    first, last = evicted[0], evicted[-1]
    note = (
        f"[Messages #{first.seq}-#{last.seq} ({stamp(first.created_at, tz)} to "
        f"{stamp(last.created_at, tz)}) left view without a summary; "
        "search them with conversation_search.]"
    )
    room = limit - counter.count(note) - 1
    kept = previous if counter.count(previous) <= room else "…" + counter.tail(previous, room - 1)
    return f"{kept}\n{note}".strip()
