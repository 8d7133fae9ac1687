"""An agent's context window as its next model call would send it, part by part.

It is the turn's own arithmetic: the agent's main context is loaded as a worker loads it
(``AgentSession`` over the stored state and its FIFO queue from recall) and measured with the
runtime's ``PromptLayout`` (its fixed parts, the working context shown, the summary, each
message as rendered for the model), and the lines are the ones ``core.turn.room`` acts on.
The next call adds the message that starts it (and may first flush, if the total is past
the flush line).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.context.layout import PromptLayout
from core.context.tokens import TokenCounter
from core.operator.errors import NotFoundError
from core.operator.messages import ApiRole, api_role
from core.ports import AgentStore, RecallStore
from core.turn.session import AgentSession
from core.turn.settings import AgentSettings


@dataclass(frozen=True, slots=True)
class InView:
    """One message of the FIFO queue and the tokens it takes as sent."""

    seq: int
    role: ApiRole
    kind: str
    tokens: int


@dataclass(frozen=True, slots=True)
class ContextWindow:
    agent_key: str
    window: int
    reply_reserve: int
    instructions: int  # the static instructions, with the system message's overhead
    tools: int  # the function schemas
    reply_priming: int
    working_context: int
    summary: int
    summary_text: str
    summary_upto_seq: int  # the summary covers messages 1 to this one (0: none)
    messages: tuple[InView, ...]
    total: int  # our count of the whole prompt
    correction: float  # what the provider's reported counts taught us (>= 1)
    corrected_total: int  # what the flush and warning lines are checked against
    warning_line: int
    flush_line: int
    warning_sent: bool  # the agent was told already since the last flush

    @property
    def free(self) -> int:
        """Tokens the prompt can still grow by before the next call flushes."""
        return max(0, self.flush_line - self.corrected_total)


class ContextWindows:
    def __init__(
        self,
        *,
        agents: AgentStore,
        recall: RecallStore,
        layout: PromptLayout,
        counter: TokenCounter,
        settings: AgentSettings,
    ) -> None:
        self.agents = agents
        self.recall = recall
        self.layout = layout
        self.counter = counter
        self.settings = settings

    async def session(self, agent_key: str) -> AgentSession:
        """The agent's main context, loaded as a worker loads it (read only)."""
        state = await self.agents.load(agent_key)
        if state is None:
            raise NotFoundError(f"there is no agent {agent_key!r}")
        fifo = await self.recall.range(agent_key, state.summary_upto_seq, state.last_seq)
        return AgentSession(state, fifo, self.layout)

    async def window(self, agent_key: str) -> ContextWindow:
        session = await self.session(agent_key)
        state, layout, s = session.state, self.layout, self.settings
        total = session.prompt_tokens()
        return ContextWindow(
            agent_key=agent_key,
            window=s.context_window,
            reply_reserve=s.reply_tokens,
            instructions=layout.instructions_tokens,
            tools=layout.tools_tokens,
            reply_priming=layout.reply_priming_tokens,
            working_context=layout.memory_tokens(state.prompt_memory),
            summary=layout.summary_tokens(state.summary),
            summary_text=state.summary,
            summary_upto_seq=state.summary_upto_seq,
            messages=tuple(
                InView(m.seq, api_role(m.kind), m.kind, n)
                for m, n in zip(session.fifo, session.tokens, strict=True)
            ),
            total=total,
            correction=self.counter.correction,
            corrected_total=self.counter.scaled(total),
            warning_line=int(s.warning_line),
            flush_line=s.flush_line,
            warning_sent=state.memory_warning_sent,
        )
