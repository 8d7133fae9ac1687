"""Make room: keep the next prompt inside the context window.

When it would not fit (with room for the reply), the oldest messages leave view and are
folded into the recursive summary (if the model cannot summarise, a note pointing at recall
takes its place: nothing is lost, eviction never deletes from recall). Past the warning
line, the agent is told once per fill-up to save what matters.
"""

from __future__ import annotations

import logging

from core.context.tokens import TokenCounter
from core.errors import LLMError
from core.ports import Clock
from core.turn.commit import StepCommit
from core.turn.outcome import Turn
from core.turn.session import AgentSession
from core.turn.settings import AgentSettings
from core.turn.summary import Summarizer, fallback_summary

log = logging.getLogger(__name__)

MEMORY_PRESSURE_ALERT = (
    "Memory pressure: your context is {percent}% full. Older messages will soon move out of "
    "view into a summary. Save anything important to working context or archival memory now."
)


class MakeRoom:
    def __init__(
        self,
        *,
        summarizer: Summarizer,
        counter: TokenCounter,
        commit: StepCommit,
        clock: Clock,
        settings: AgentSettings,
    ) -> None:
        self.summarizer = summarizer
        self.counter = counter
        self.commit = commit
        self.clock = clock
        self.settings = settings

    async def make_room(self, session: AgentSession, turn: Turn) -> None:
        """Flush when the prompt would not fit; warn once when it passes the warning line."""
        s = self.settings
        if self.counter.scaled(session.prompt_tokens()) > s.flush_line:
            await self.flush(session, turn, int(s.context_window * s.keep_fraction))
            return
        size = self.counter.scaled(session.prompt_tokens())
        warned = session.state.memory_warning_sent or turn.warned
        if size > s.warning_line and not warned:
            percent = round(100 * size / s.context_window)
            text = MEMORY_PRESSURE_ALERT.format(percent=percent)
            session.add([session.alert(text, self.clock.now(), turn.event.event_id)])
            turn.warned = True

    async def flush(self, session: AgentSession, turn: Turn, target: int) -> bool:
        """Evict the oldest stored messages until the prompt is about ``target`` tokens, and
        fold them into the recursive summary. False if nothing could be evicted."""
        count = self._eviction_count(session, target)
        if count == 0:
            return False
        evicted = session.fifo[:count]
        state = session.state
        key = state.agent_key
        try:
            summary = await self.summarizer.summarize(
                state.summary, evicted, session.tz, key, turn.count
            )
        except LLMError as exc:
            log.warning(
                "summary failed, keeping the old one with a pointer to recall: %s",
                exc,
                extra={"agent_key": key, "event_id": turn.event.event_id},
            )
            summary = fallback_summary(
                state.summary, evicted, session.tz, self.counter, self.settings.summary_tokens
            )
        await self.commit.evict(session, turn, summary=summary, count=count)
        turn.warned = False
        log.info(
            "evicted %d messages (up to #%d) into the summary",
            count,
            evicted[-1].seq,
            extra={"agent_key": key, "event_id": turn.event.event_id},
        )
        return True

    def _eviction_count(self, session: AgentSession, target: int) -> int:
        total = session.prompt_tokens()
        freed = 0
        count = 0
        while count < session.committed and (
            self.counter.scaled(total - freed) > target or session.fifo[count].kind == "tool_result"
        ):
            freed += session.tokens[count]
            count += 1
        return count
