"""Looking inside an agent: its messages, its context window as the next call would send
it, a message sent to it as a person, and the traces of its past turns."""

from __future__ import annotations

from dataclasses import dataclass

from core.operator.context import ContextWindows
from core.operator.conversation import Conversations
from core.operator.messages import OperatorMessages
from core.operator.traces import TurnTraces


@dataclass
class AgentInsight:
    messages: OperatorMessages
    context: ContextWindows
    conversations: Conversations
    traces: TurnTraces
