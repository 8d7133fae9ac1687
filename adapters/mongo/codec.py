"""Documents <-> core values. Every stored document carries its schema version ``v``."""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bson import Binary

from core.events import EVENT_ADAPTER, Event
from core.messages import CallTrace, Message, StepTrace, ToolCall
from core.records import SCHEMA_VERSION, AgentState, Passage
from core.search.ranking import message_terms, passage_terms

Doc = dict[str, Any]
SEP = "#"  # agent key and local id are joined with it in _id


def doc_id(agent_key: str, local: str) -> str:
    if SEP in agent_key:
        raise ValueError(f"agent keys cannot contain {SEP!r}: {agent_key!r}")
    return f"{agent_key}{SEP}{local}"


def position(agent_key: str, number: int) -> str:
    """An indexed, sortable key for "this agent's n-th item": range scans use it (some
    servers scan the whole collection for an ``_id`` range, but not for an indexed field)."""
    return doc_id(agent_key, f"{number:012d}")


def message_id(agent_key: str, seq: int) -> str:
    return position(agent_key, seq)


def message_search_terms(spoken: str) -> str:
    """What word search finds a message by: its terms (``core.search.ranking``), stemmed once."""
    return " ".join(message_terms(spoken)) if spoken else ""


def passage_search_terms(text: str, section: str | None) -> str:
    return " ".join(passage_terms(text, section))


def utc(moment: datetime) -> datetime:
    """BSON keeps milliseconds in UTC; make the value aware again after a read."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def state_to_doc(state: AgentState) -> Doc:
    body = state.model_dump(mode="json", exclude={"agent_key", "version"})
    return {
        "_id": state.agent_key,
        "v": SCHEMA_VERSION,
        "version": state.version,
        "state": body,
        "updated": state.updated_at.timestamp(),  # epoch seconds: it is changed by $set
        "usage_day": state.usage_day,
    }


# the fields of an agent's state kept under "state" (the key is _id, the version top-level)
STATE_FIELDS = tuple(n for n in AgentState.model_fields if n not in ("agent_key", "version"))


def state_changes(before: AgentState, after: AgentState) -> Doc:
    """The ``$set`` that turns the stored document of ``before`` into that of ``after``:
    the top-level fields, and those of the state that changed (a turn changes a few: the
    event ids, the usage; the working context now and then)."""
    changed = {
        name
        for name in STATE_FIELDS
        if getattr(before, name) is not getattr(after, name)
        and getattr(before, name) != getattr(after, name)
    }
    body = after.model_dump(mode="json", include=changed)
    return {
        "v": SCHEMA_VERSION,
        "version": after.version,
        "updated": after.updated_at.timestamp(),
        "usage_day": after.usage_day,
        **{f"state.{name}": value for name, value in body.items()},
    }


def state_from_doc(doc: Doc) -> AgentState:
    return AgentState.model_validate(
        {**doc["state"], "agent_key": doc["_id"], "version": doc["version"]}
    )


def message_to_doc(agent_key: str, message: Message) -> Doc:
    spoken = message.spoken_text()
    return {
        "_id": message_id(agent_key, message.seq),
        "v": SCHEMA_VERSION,
        "agent": agent_key,
        "seq": message.seq,
        "pos": message_id(agent_key, message.seq),
        "role": message.role,
        "kind": message.kind,
        "content": message.content,
        "created_at": message.created_at,
        "event_id": message.event_id,
        "tool_calls": [c.model_dump() for c in message.tool_calls],
        "tool_call_id": message.tool_call_id,
        "tool_name": message.tool_name,
        "author_id": message.author_id,
        "author_name": message.author_name,
        "search_role": message.search_role if spoken else None,
        "terms": message_search_terms(spoken),
        "trace": message.trace.model_dump(mode="json") if message.trace else None,
        "call": message.call.model_dump(mode="json") if message.call else None,
    }


def message_from_doc(doc: Doc) -> Message:
    return Message(
        seq=doc["seq"],
        role=doc["role"],
        kind=doc["kind"],
        content=doc["content"],
        created_at=utc(doc["created_at"]),
        event_id=doc.get("event_id"),
        tool_calls=tuple(ToolCall(**c) for c in doc.get("tool_calls") or ()),
        tool_call_id=doc.get("tool_call_id"),
        tool_name=doc.get("tool_name"),
        author_id=doc.get("author_id"),
        author_name=doc.get("author_name"),
        trace=StepTrace.model_validate(doc["trace"]) if doc.get("trace") else None,
        call=CallTrace.model_validate(doc["call"]) if doc.get("call") else None,
    )


def same_message(doc: Doc, message: Message) -> bool:
    """Whether a stored message is the one we meant to write (ignoring BSON's ms rounding)."""
    return (
        doc.get("role") == message.role
        and doc.get("kind") == message.kind
        and doc.get("content") == message.content
        and doc.get("event_id") == message.event_id
        and doc.get("tool_call_id") == message.tool_call_id
        and [c.get("id") for c in doc.get("tool_calls") or ()] == [c.id for c in message.tool_calls]
    )


def passage_to_doc(agent_key: str, passage: Passage, n: int) -> Doc:
    doc: Doc = {
        "_id": doc_id(agent_key, passage.id),
        "v": SCHEMA_VERSION,
        "agent": agent_key,
        "pid": passage.id,
        "n": n,
        "pos": position(agent_key, n),
        "text": passage.text,
        "terms": passage_search_terms(passage.text, passage.section),
        "source": passage.source,
        "section": passage.section,
        "chunk_index": passage.chunk_index,
        "document_id": passage.document_id,
        "created_at": passage.created_at,
    }
    if passage.embedding is not None:
        doc["embedding"] = pack_vector(passage.embedding)
    return doc


def pack_vector(vector: Sequence[float]) -> Binary:
    """float32, little-endian: a quarter of the size of a BSON array of doubles, and far
    faster for servers to store and return."""
    values = array("f", vector)
    if sys.byteorder == "big":
        values.byteswap()
    return Binary(values.tobytes())


def unpack_vector(stored: object) -> tuple[float, ...]:
    if isinstance(stored, bytes):
        values = array("f")
        values.frombytes(stored)
        if sys.byteorder == "big":
            values.byteswap()
        return tuple(values)
    return tuple(float(x) for x in stored)  # type: ignore[attr-defined]


def passage_from_doc(doc: Doc) -> Passage:
    embedding = doc.get("embedding")
    return Passage(
        id=doc["pid"],
        text=doc["text"],
        source=doc["source"],
        created_at=utc(doc["created_at"]),
        section=doc.get("section"),
        chunk_index=doc.get("chunk_index", 0),
        document_id=doc.get("document_id"),
        embedding=unpack_vector(embedding) if embedding is not None else None,
    )


def event_to_doc(event: Event, order: int, received_at: datetime) -> Doc:
    return {
        "_id": event.event_id,
        "v": SCHEMA_VERSION,
        "agent": event.agent_key,
        "order": order,
        "status": "pending",
        "event": EVENT_ADAPTER.dump_python(event, mode="json"),
        "received_at": received_at,
    }


def event_from_doc(doc: Doc) -> Event:
    return EVENT_ADAPTER.validate_python(doc["event"])
