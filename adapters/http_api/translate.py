"""Core values -> wire models (``pagemind_client.models``). Nothing secret crosses: keys'
hashes, embeddings and platform addresses stay behind."""

from __future__ import annotations

from typing import Literal, cast

from core.checkins.values import Checkin
from core.operator.agents import AgentDetail, AgentSummary
from core.operator.archival import SearchResults
from core.operator.paging import Listing
from core.operator.records import AuditEntry, UploadJob
from core.operator.usage import UsageReport
from core.records import ArchivalSource, Passage
from pagemind_client import models as wire

Scope = Literal["user", "channel", "thread"]


def summary(agent: AgentSummary) -> wire.AgentSummary:
    return wire.AgentSummary(
        key=agent.key,
        platform=agent.platform,
        scope=cast(Scope, agent.scope),
        created_at=agent.created_at,
        last_active_at=agent.last_active_at,
        last_user_message_at=agent.last_user_message_at,
        tokens_today=agent.tokens_today,
        daily_token_budget=agent.daily_token_budget,
        paused=agent.paused,
    )


def agents(page: Listing[AgentSummary]) -> wire.Page[wire.AgentSummary]:
    return wire.Page[wire.AgentSummary](
        items=[summary(a) for a in page.items], next_cursor=page.next_cursor
    )


def detail(agent: AgentDetail) -> wire.AgentDetail:
    return wire.AgentDetail(
        **summary(agent.summary).model_dump(),
        budget_override=agent.budget_override,
        timezone=agent.timezone,
        tokens_total=agent.tokens_total,
        calls_total=agent.calls_total,
        messages=agent.messages,
        passages=agent.passages,
        blocks=[
            wire.MemoryBlock(
                label=b.label, value=b.value, limit=b.limit, title=b.title, version=b.version
            )
            for b in agent.blocks
        ],
        note=agent.note,
        summary=agent.recursive_summary,
        summary_upto_seq=agent.summary_upto_seq,
    )


def usage(report: UsageReport) -> wire.Usage:
    return wire.Usage(
        agent=report.agent_key,
        model=report.model,
        days=[
            wire.UsageDay(
                day=d.day,
                calls=d.calls,
                prompt_tokens=d.prompt_tokens,
                cached_tokens=d.cached_tokens,
                completion_tokens=d.completion_tokens,
                cost=report.cost(d),
            )
            for d in report.days
        ],
        daily_token_budget=report.budget,
        budget_override=report.budget_override,
    )


def checkin(c: Checkin) -> wire.Checkin:
    return wire.Checkin(
        id=c.id,
        note=c.note,
        schedule=wire.Schedule(
            kind=c.schedule.kind,
            at=c.schedule.at,
            every_seconds=c.schedule.every_seconds,
            cron=c.schedule.cron,
        ),
        timezone=c.timezone,
        created_by=c.created_by,
        created_at=c.created_at,
        next_due=c.next_due,
        last_fired=c.last_fired,
        fired=c.fired,
        skipped=c.skipped,
        tokens=c.tokens,
    )


def checkins(page: Listing[Checkin]) -> wire.Page[wire.Checkin]:
    return wire.Page[wire.Checkin](
        items=[checkin(c) for c in page.items], next_cursor=page.next_cursor
    )


def passage(p: Passage) -> wire.Passage:
    return wire.Passage(
        id=p.id,
        text=p.text,
        source=p.source,
        created_at=p.created_at,
        section=p.section,
        chunk_index=p.chunk_index,
        document_id=p.document_id,
    )


def sources(page: Listing[ArchivalSource]) -> wire.Page[wire.ArchivalSource]:
    return wire.Page[wire.ArchivalSource](
        items=[
            wire.ArchivalSource(
                document_id=s.document_id,
                filename=s.filename,
                passages=s.passages,
                stored_at=s.stored_at,
            )
            for s in page.items
        ],
        next_cursor=page.next_cursor,
    )


def search(results: SearchResults) -> wire.SearchResults:
    return wire.SearchResults(
        items=[wire.SearchHit(passage=passage(i.passage), score=i.score) for i in results.items],
        total=results.total,
        exact_total=results.exact_total,
        scoring="rrf" if results.scoring == "rrf" else "bm25",
        next_cursor=results.next_cursor,
    )


def job(j: UploadJob) -> wire.UploadJob:
    return wire.UploadJob(
        id=j.id,
        agent=j.agent_key,
        filename=j.filename,
        status=j.status,
        created_at=j.created_at,
        updated_at=j.updated_at,
        done=j.done,
        total=j.total,
        passages=j.passages,
        message=j.message,
    )


def audit(page: Listing[AuditEntry]) -> wire.Page[wire.AuditEntry]:
    return wire.Page[wire.AuditEntry](
        items=[wire.AuditEntry(**e.model_dump()) for e in page.items],
        next_cursor=page.next_cursor,
    )
