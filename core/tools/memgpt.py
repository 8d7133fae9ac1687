"""MemGPT's function set. Docstrings are prompts: the model reads them as the tools' manual."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal

from core.agent_key import AgentKey
from core.context.chunking import chunk_text
from core.errors import ToolError
from core.events import UserMessageReceived
from core.records import ArchivalQuery, Passage, RecallQuery, SearchRole
from core.tools.formatting import Budget, format_page, message_line, render_passages
from core.tools.registry import ToolContext, ToolRegistry

ARCHIVAL_CHUNK_TOKENS = 300
ARCHIVAL_OVERLAP_TOKENS = 40


async def send_message(ctx: ToolContext, message: str) -> str:
    """Send a message to the user. This is the only way they see anything you say.

    Args:
        message: the text to send
    """
    if not message.strip():
        raise ToolError("message is empty; nothing was sent.")
    ctx.send(message)
    return "Sent."


async def core_memory_append(ctx: ToolContext, label: str, content: str) -> str:
    """Append text to a block of your working context.

    Args:
        label: the block, e.g. "human" or "persona"
        content: the text to add
    """
    label = _resolve(ctx, label)
    ctx.memory = ctx.memory.append(label, content)
    return _block_status(ctx, label)


async def core_memory_replace(
    ctx: ToolContext, label: str, old_content: str, new_content: str
) -> str:
    """Replace text in a block of your working context; an empty new_content deletes it.

    Args:
        label: the block, e.g. "human" or "persona"
        old_content: the exact text to replace; it must occur once
        new_content: the new text
    """
    label = _resolve(ctx, label)
    ctx.memory = ctx.memory.replace(label, old_content, new_content)
    return _block_status(ctx, label)


async def conversation_search(
    ctx: ToolContext,
    query: str,
    page: int = 1,
    start_date: date | None = None,
    end_date: date | None = None,
    roles: list[SearchRole] | None = None,
) -> str:
    """Search your whole conversation history (recall storage) by words, best matches first.

    Args:
        query: words to look for
        page: result page, from 1
        start_date: only messages on or after this day (YYYY-MM-DD)
        end_date: only messages on or before this day (YYYY-MM-DD)
        roles: only messages by these: user, assistant (you), system
    """
    if not query.strip():
        raise ToolError("query is empty; give words to look for, or use conversation_search_date.")
    return await _search_recall(ctx, query, page, start_date, end_date, roles, "relevance")


async def conversation_search_date(
    ctx: ToolContext, start_date: date, end_date: date, page: int = 1
) -> str:
    """List your conversation history between two days, oldest first.

    Args:
        start_date: first day, YYYY-MM-DD
        end_date: last day, YYYY-MM-DD
        page: result page, from 1
    """
    return await _search_recall(ctx, None, page, start_date, end_date, None, "oldest")


async def archival_memory_insert(ctx: ToolContext, content: str) -> str:
    """Save text to archival memory, your unlimited long-term store, to search later.

    Args:
        content: the text to save; include enough context to understand it alone
    """
    chunks = chunk_text(content, ctx.counter, ARCHIVAL_CHUNK_TOKENS, ARCHIVAL_OVERLAP_TOKENS)
    if not chunks:
        raise ToolError("content is empty; nothing was saved.")
    embeddings = await ctx.embedder.embed(chunks) if ctx.embedder else [None] * len(chunks)
    passages = [
        Passage(
            id=f"{ctx.call_key}:{i}",
            text=chunk,
            source="saved by you",
            created_at=ctx.now,
            chunk_index=i,
            embedding=embedding,
        )
        for i, (chunk, embedding) in enumerate(zip(chunks, embeddings, strict=True))
    ]
    await ctx.archival.insert(ctx.agent_key, passages)
    return "Saved." if len(passages) == 1 else f"Saved as {len(passages)} passages."


async def archival_memory_search(ctx: ToolContext, query: str, page: int = 1) -> str:
    """Search archival memory (saved facts and uploaded files) by meaning and words.

    Args:
        query: what to look for
        page: result page, from 1
    """
    if not query.strip():
        raise ToolError("query is empty; say what to look for.")
    offset = _offset(page, ctx.page_size)
    embedding = None
    if ctx.embedder is not None:
        (embedding,) = await ctx.embedder.embed([query])
    result = await ctx.archival.search(
        ctx.agent_key,
        ArchivalQuery(text=query, embedding=embedding, offset=offset, limit=ctx.page_size),
    )
    ctx.found(result, lambda p: p.id)
    return render_passages(result, page, Budget(ctx.counter, ctx.page_tokens), query).text


def register_memgpt_tools(registry: ToolRegistry) -> ToolRegistry:
    registry.register(send_message, heartbeat=False)
    for tool in (
        core_memory_append,
        core_memory_replace,
        conversation_search,
        conversation_search_date,
        archival_memory_insert,
        archival_memory_search,
    ):
        registry.register(tool)
    return registry


def _resolve(ctx: ToolContext, label: str) -> str:
    """In a group, "human" is the block of whoever wrote the message being answered; each
    person's block is created the first time something is noted about them."""
    if not AgentKey.parse(ctx.agent_key).is_group:
        return label
    if label in ("human", "user"):
        event = ctx.event
        if not isinstance(event, UserMessageReceived) or not event.author_id:
            raise ToolError(
                "In a group, say whose block: human:<their id> (see your working context)."
            )
        label = f"human:{event.author_id}"
        title = event.author_name
    elif label.startswith("human:"):
        title = None
    else:
        return label
    ctx.memory = ctx.memory.ensure(label, limit=ctx.block_limit, title=title)
    return label


def _block_status(ctx: ToolContext, label: str) -> str:
    block = ctx.memory.block(label)
    return (
        f"Done. {label} now reads ({len(block.value):,}/{block.limit:,} characters):\n{block.value}"
    )


def _offset(page: int, page_size: int) -> int:
    if page < 1:
        raise ToolError("page starts at 1.")
    return (page - 1) * page_size


async def _search_recall(
    ctx: ToolContext,
    query: str | None,
    page: int,
    start_date: date | None,
    end_date: date | None,
    roles: list[SearchRole] | None,
    order: Literal["relevance", "oldest"],
) -> str:
    if start_date and end_date and end_date < start_date:
        raise ToolError(f"end_date {end_date} is before start_date {start_date}.")
    start = datetime.combine(start_date, time(), ctx.timezone) if start_date else None
    end = datetime.combine(end_date + timedelta(days=1), time(), ctx.timezone) if end_date else None
    result = await ctx.recall.search(
        ctx.agent_key,
        RecallQuery(
            text=query,
            start=start,
            end=end,
            roles=frozenset(roles) if roles else None,
            order=order,
            offset=_offset(page, ctx.page_size),
            limit=ctx.page_size,
            max_seq=ctx.visible_upto_seq,
        ),
    )
    ctx.found(result, lambda m: str(m.seq))
    return format_page(
        result, page, "messages", message_line(ctx.timezone), Budget(ctx.counter, ctx.page_tokens)
    )
