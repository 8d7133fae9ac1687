"""An agent's messages for the operator: every entry of its recall log, newest first, with
inner thoughts, function calls and their results; filtered by role, dates and words.

Pages are keyed on the message's sequence number (it never changes once a message exists):
a page's cursor names its last (oldest) message and the next page starts strictly below it,
so messages written between two reads never shift a page. Only committed messages are
listed (up to the state's ``last_seq``): the message of a turn still under way appears once
its step is stored. The last step's messages may not be in recall storage yet (they travel
in the agent state until the next recall write, ``core.turn.commit``): they are read from
the state.

Words (``q``) use the agent's own recall search (``RecallStore.search``, the one its
``conversation_search`` runs): what was said (a person's messages, what the agent sent,
alerts) is searched; inner thoughts and function results are not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from core.messages import Message, MessageKind
from core.operator.errors import InvalidRequestError, NotFoundError
from core.operator.paging import Listing, check_limit, decode, listing
from core.ports import AgentStore, RecallStore
from core.records import AgentState, RecallQuery, SearchRole
from core.search.ranking import message_terms, query_terms

MESSAGES = "messages"
ApiRole = Literal["user", "assistant", "tool", "system"]
ROLES: tuple[ApiRole, ...] = ("user", "assistant", "tool", "system")
_SCAN = 200  # messages read at a time when filtering by role or date
_MARGIN = 20  # messages either side of a date that may be out of time order


def api_role(kind: MessageKind) -> ApiRole:
    """Who a message is from, as the operator sees it: the person, the model, a function's
    result, or Pagemind itself (alerts, heartbeats, check-ins, uploads)."""
    if kind == "user_message":
        return "user"
    if kind == "assistant":
        return "assistant"
    if kind == "tool_result":
        return "tool"
    return "system"


_SEARCH_ROLE: dict[ApiRole, SearchRole] = {
    "user": "user",
    "assistant": "assistant",
    "system": "system",
}


@dataclass(frozen=True, slots=True)
class MessageFilter:
    role: ApiRole | None = None
    since: datetime | None = None  # at or after
    until: datetime | None = None  # before
    q: str | None = None

    def accepts(self, message: Message) -> bool:
        return (
            (self.role is None or api_role(message.kind) == self.role)
            and (self.since is None or message.created_at >= self.since)
            and (self.until is None or message.created_at < self.until)
        )


@dataclass(frozen=True, slots=True)
class ListedMessage:
    """A message, and for a model's answer the results of its function calls (by call id)."""

    message: Message
    results: dict[str, Message]


class OperatorMessages:
    def __init__(self, *, agents: AgentStore, recall: RecallStore) -> None:
        self.agents = agents
        self.recall = recall

    async def page(
        self, agent_key: str, query: MessageFilter, *, cursor: str | None, limit: int
    ) -> Listing[ListedMessage]:
        check_limit(limit)
        after = decode(MESSAGES, cursor)
        if query.role is not None and query.role not in ROLES:
            raise InvalidRequestError(f"role is one of {', '.join(ROLES)}", field="role")
        if query.since and query.until and query.since >= query.until:
            raise InvalidRequestError("since must be before until", field="since")
        state = await self.agents.load(agent_key)
        if state is None:
            raise NotFoundError(f"there is no agent {agent_key!r}")
        upto = state.last_seq if after is None else min(state.last_seq, int(after[0]) - 1)
        if query.q is not None and query.q.strip():
            found = await self._search(state, query, upto, limit + 1)
        else:
            found = await self._scan(state, query, upto, limit + 1)
        page = listing(MESSAGES, found, lambda m: (m.seq,), limit)
        shown = await self._with_results(state, page.items)
        return Listing(shown, page.next_cursor)

    async def read(self, state: AgentState, after: int, upto: int) -> list[Message]:
        """Messages ``after < seq <= upto``, in order: recall's, and the state's unfiled."""
        if upto <= after:
            return []
        unfiled = [m for m in state.unfiled if after < m.seq <= upto]
        stored_upto = min(upto, unfiled[0].seq - 1) if unfiled else upto
        stored = await self.recall.range(state.agent_key, after, stored_upto)
        return [*stored, *unfiled]

    async def _scan(
        self, state: AgentState, query: MessageFilter, upto: int, wanted: int
    ) -> list[Message]:
        """Newest first from ``upto``, reading back a slice at a time until ``wanted``."""
        if query.until is not None:
            upto = min(upto, await self._first_at(state, query.until, upto) - 1 + _MARGIN)
        found: list[Message] = []
        filtered = query.role is not None or query.since is not None or query.until is not None
        while upto > 0 and len(found) < wanted:
            size = _SCAN if filtered else wanted - len(found)
            chunk = await self.read(state, max(0, upto - size), upto)
            found += [m for m in reversed(chunk) if query.accepts(m)]
            upto -= size
            older = [m for m in chunk if query.since is not None and m.created_at < query.since]
            if len(older) >= min(_MARGIN, len(chunk)) and chunk:
                break  # everything further back is older still
        return found[:wanted]

    async def _first_at(self, state: AgentState, moment: datetime, upto: int) -> int:
        """The first sequence number at or after ``moment`` (``upto + 1`` if none): sequence
        order is time order, up to small clock differences (hence the margin)."""
        lo, hi = 1, upto + 1
        while lo < hi:
            mid = (lo + hi) // 2
            (message,) = await self.read(state, mid - 1, mid) or (None,)
            if message is None or message.created_at >= moment:
                hi = mid
            else:
                lo = mid + 1
        return lo

    async def _search(
        self, state: AgentState, query: MessageFilter, upto: int, wanted: int
    ) -> list[Message]:
        """The agent's recall search, newest first, below ``upto``. Recall is searched up to
        the last filed message; the state's unfiled ones are matched on the same terms."""
        text = query.q or ""
        if query.role == "tool":
            raise InvalidRequestError(
                "function results are not searched by words: leave q out to list them",
                field="q",
            )
        words = set(query_terms(text))
        if not words:
            raise InvalidRequestError("q has no word to search for", field="q")
        unfiled = [m for m in state.unfiled if m.seq <= upto]
        filed_upto = min(upto, unfiled[0].seq - 1) if unfiled else upto
        recent = [
            m
            for m in reversed(unfiled)
            if query.accepts(m) and words & set(message_terms(m.spoken_text()))
        ]
        if len(recent) >= wanted or filed_upto <= 0:
            return recent[:wanted]
        roles = None if query.role is None else frozenset({_SEARCH_ROLE[query.role]})
        page = await self.recall.search(
            state.agent_key,
            RecallQuery(
                text=text,
                start=query.since,
                end=query.until,
                roles=roles,
                order="newest",
                limit=wanted - len(recent),
                max_seq=filed_upto,
            ),
        )
        return [*recent, *page.items]

    async def _with_results(
        self, state: AgentState, messages: Sequence[Message]
    ) -> tuple[ListedMessage, ...]:
        """Each model answer with its function results (the messages right after it)."""
        on_page = {m.seq: m for m in messages}
        out = []
        for message in messages:
            results: dict[str, Message] = {}
            calls = message.tool_calls
            if message.kind == "assistant" and calls:
                span = range(message.seq + 1, message.seq + 1 + len(calls))
                found = [on_page[s] for s in span if s in on_page]
                if len(found) < len(calls):
                    found = await self.read(state, message.seq, min(span[-1], state.last_seq))
                results = {
                    m.tool_call_id: m
                    for m in found
                    if m.kind == "tool_result" and m.tool_call_id is not None
                }
            out.append(ListedMessage(message, results))
        return tuple(out)
