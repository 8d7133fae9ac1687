"""A scripted language model: a TEST DOUBLE at the LLM port, never a demo model.

It answers each turn request with the next scripted response (or raises the next scripted
error) and records every request, so tests can assert on what the model was shown.
Summary requests are answered from a separate script.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from core.messages import ToolCall
from core.ports.model import ChatRequest, ChatResponse, Usage

Step = ChatResponse | BaseException | Callable[[ChatRequest], ChatResponse]
_ids = itertools.count(1)


def call(name: str, /, **arguments: Any) -> ChatResponse:
    """A response that calls one function."""
    return calls((name, arguments))


def calls(*pairs: tuple[str, dict[str, Any]], thoughts: str | None = None) -> ChatResponse:
    return ChatResponse(
        content=thoughts,
        tool_calls=tuple(
            ToolCall(id=f"call_{next(_ids)}", name=n, arguments=json.dumps(a)) for n, a in pairs
        ),
        usage=Usage(prompt_tokens=100, completion_tokens=10),
    )


def say(text: str) -> ChatResponse:
    """A response that sends ``text`` to the user."""
    return call("send_message", message=text)


def raw_call(name: str, arguments: str) -> ChatResponse:
    """A function call with arguments exactly as given (for malformed JSON)."""
    return ChatResponse(
        content=None,
        tool_calls=(ToolCall(id=f"call_{next(_ids)}", name=name, arguments=arguments),),
    )


def text(words: str) -> ChatResponse:
    """A plain-text answer with no function call."""
    return ChatResponse(content=words)


class ScriptedModel:
    def __init__(
        self,
        script: Iterable[Step] = (),
        *,
        summaries: Iterable[str | BaseException] = (),
        default: Step | None = None,
    ) -> None:
        self.script: deque[Step] = deque(script)
        self.summaries: deque[str | BaseException] = deque(summaries)
        self.default = default
        self.requests: list[ChatRequest] = []
        self.summary_requests: list[ChatRequest] = []

    def add(self, *steps: Step) -> None:
        self.script.extend(steps)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        if request.purpose == "summary":
            self.summary_requests.append(request)
            if not self.summaries:
                raise AssertionError("the scripted model has no summary left")
            item = self.summaries.popleft()
            if isinstance(item, BaseException):
                raise item
            return ChatResponse(content=item, usage=Usage(prompt_tokens=50, completion_tokens=20))
        self.requests.append(request)
        if self.script:
            step = self.script.popleft()
        elif self.default is not None:
            step = self.default
        else:
            raise AssertionError("the scripted model ran out of responses")
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            return step(request)
        return step


def learns_tea_and_passport(name: str) -> ScriptedModel:
    """A model that saves two facts about ``name`` (one in working context, one in archival
    storage) and says "Noted.": what the command tests look for in memory and exports."""
    return ScriptedModel(
        [
            call("core_memory_append", label="human", content="Likes green tea",
                 request_heartbeat=True),
            call("archival_memory_insert", content=f"{name}'s passport number ends 123",
                 request_heartbeat=True),
            say("Noted."),
        ]
    )  # fmt: skip


class GatedModel(ScriptedModel):
    """A scripted model that holds every answer until the test opens ``gate`` (to watch work
    in progress: typing, a working reaction, a redelivery meanwhile)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        await self.gate.wait()
        return await super().complete(request)
