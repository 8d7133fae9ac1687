"""Core values of ``core.operator.insight`` -> wire models (messages, context, traces)."""

from __future__ import annotations

from core.messages import Message
from core.operator.context import ContextWindow
from core.operator.conversation import TurnDone, TurnStep
from core.operator.messages import ListedMessage, api_role
from core.operator.paging import Listing
from core.operator.traces import StepDetail, TurnDetail, TurnSummary
from pagemind_client import models as wire


def message(listed: ListedMessage) -> wire.AgentMessage:
    m = listed.message
    calls = [
        wire.FunctionCall(
            id=c.id,
            name=c.name,
            arguments=c.arguments,
            result=r.content if (r := listed.results.get(c.id)) is not None else None,
        )
        for c in m.tool_calls
    ]
    assistant = m.kind == "assistant"
    return wire.AgentMessage(
        id=m.seq,
        role=api_role(m.kind),
        kind=m.kind,
        text=m.spoken_text() if assistant else m.content,
        thoughts=m.content if assistant else "",
        calls=calls,
        call_id=m.tool_call_id,
        function=m.tool_name,
        at=m.created_at,
        author_id=m.author_id,
        author_name=m.author_name,
        event_id=m.event_id,
    )


def messages(page: Listing[ListedMessage]) -> wire.Page[wire.AgentMessage]:
    return wire.Page[wire.AgentMessage](
        items=[message(m) for m in page.items], next_cursor=page.next_cursor
    )


def context(w: ContextWindow) -> wire.ContextWindow:
    return wire.ContextWindow(
        agent=w.agent_key,
        window=w.window,
        reply_reserve=w.reply_reserve,
        instructions=w.instructions,
        tools=w.tools,
        reply_priming=w.reply_priming,
        working_context=w.working_context,
        summary=wire.ContextSummary(
            tokens=w.summary, text=w.summary_text, covers_upto=w.summary_upto_seq
        ),
        messages=[
            wire.ContextMessage(id=m.seq, role=m.role, kind=m.kind, tokens=m.tokens)
            for m in w.messages
        ],
        messages_tokens=sum(m.tokens for m in w.messages),
        total=w.total,
        correction=w.correction,
        corrected_total=w.corrected_total,
        free=w.free,
        warning_line=w.warning_line,
        flush_line=w.flush_line,
        warning_sent=w.warning_sent,
        would_flush=w.corrected_total > w.flush_line,
    )


def step(s: TurnStep | TurnDone) -> wire.TurnStep:
    if isinstance(s, TurnDone):
        return wire.DoneStep(event_id=s.event_id, replies=list(s.replies), error=s.error)
    if s.kind == "thought":
        return wire.ThoughtStep(message_id=s.message_id, at=s.at, text=s.text)
    if s.kind == "function_call":
        return wire.FunctionCallStep(
            message_id=s.message_id,
            at=s.at,
            name=s.name or "",
            arguments=s.arguments or "",
            call_id=s.call_id or "",
        )
    if s.kind == "function_result":
        return wire.FunctionResultStep(
            message_id=s.message_id, at=s.at, name=s.name, call_id=s.call_id, text=s.text
        )
    return wire.ReplyStep(message_id=s.message_id, at=s.at, text=s.text)


def _listed(m: Message) -> wire.AgentMessage:
    return message(ListedMessage(m, {}))


def turn_summary(t: TurnSummary) -> wire.TurnSummary:
    return wire.TurnSummary(
        id=str(t.turn_id),
        event_id=t.event_id,
        at=t.start.created_at,
        started_by=_listed(t.start),
        replies=list(t.replies),
        steps=len(t.traces) + len(t.failed),
        tokens=t.tokens,
        error=t.error,
    )


def turns(page: Listing[TurnSummary]) -> wire.Page[wire.TurnSummary]:
    return wire.Page[wire.TurnSummary](
        items=[turn_summary(t) for t in page.items], next_cursor=page.next_cursor
    )


def _step(s: StepDetail) -> wire.TurnStepTrace:
    t = s.trace
    results = {r.tool_call_id: r for r in s.results}
    calls = []
    for c in s.answer.tool_calls if s.answer is not None else ():
        result = results.get(c.id)
        done = result.call if result is not None else None
        calls.append(
            wire.TracedCall(
                id=c.id,
                name=c.name,
                arguments=c.arguments,
                result=result.content if result is not None else None,
                duration_ms=done.duration_ms if done is not None else None,
                hits=[wire.SearchHitTrace(id=h.id, score=h.score) for h in done.hits]
                if done is not None
                else [],
            )
        )
    return wire.TurnStepTrace(
        at=t.at,
        message_id=s.answer.seq if s.answer is not None else None,
        prompt=wire.TracedPrompt(
            first_message=t.first_seq,
            last_message=t.last_seq,
            system_text=s.system_text,
            tools_changed=s.tools_changed,
            request_body=s.request_body,
            timezone=t.timezone,
            max_message_tokens=t.max_message_tokens,
            max_reply_tokens=t.max_reply_tokens,
        ),
        tokens=wire.PromptTokens(**t.tokens.model_dump(), total=t.tokens.total),
        thoughts=s.answer.content if s.answer is not None else "",
        calls=calls,
        prompt_tokens=t.prompt_tokens,
        cached_tokens=t.cached_tokens,
        completion_tokens=t.completion_tokens,
        finish_reason=t.finish_reason,
        latency_ms=t.latency_ms,
        error=t.error,
    )


def turn(d: TurnDetail) -> wire.TurnTrace:
    results: dict[str, Message] = {
        m.tool_call_id: m for m in d.summary.messages if m.tool_call_id is not None
    }
    return wire.TurnTrace(
        **turn_summary(d.summary).model_dump(),
        messages=[message(ListedMessage(m, results)) for m in d.summary.messages],
        model_calls=[_step(s) for s in d.steps],
    )
