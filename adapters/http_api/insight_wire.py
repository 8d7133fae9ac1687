"""Core values of ``core.operator.insight`` -> wire models (messages, context, traces)."""

from __future__ import annotations

from core.operator.context import ContextWindow
from core.operator.conversation import TurnDone, TurnStep
from core.operator.messages import ListedMessage, api_role
from core.operator.paging import Listing
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
