"""Everything the operator can do, held together for the entry points (the REST API, the
``pagemind keys`` command). Built by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.operator.agent_data import OperatorAgentData
from core.operator.agents import AgentDirectory
from core.operator.archival import OperatorArchival
from core.operator.audit import Audit
from core.operator.changes import ChangeRequests
from core.operator.chat import PersonChat
from core.operator.checkins import OperatorCheckins
from core.operator.insight import AgentInsight
from core.operator.keys import ApiKeys
from core.operator.memory import OperatorMemory
from core.operator.persons import OperatorPersons
from core.operator.uploads import UploadJobs
from core.operator.usage import Price
from core.ports import Clock


@dataclass(frozen=True, slots=True)
class UsagePricing:
    model: str
    prices: dict[str, Price] = field(default_factory=dict)
    global_budget: int | None = None


@dataclass
class OperatorServices:
    clock: Clock
    keys: ApiKeys
    audit: Audit
    agents: AgentDirectory
    changes: ChangeRequests
    archival: OperatorArchival
    checkins: OperatorCheckins
    uploads: UploadJobs
    pricing: UsagePricing
    insight: AgentInsight
    memory: OperatorMemory | None = None  # working-context blocks and their edit history
    agent_data: OperatorAgentData | None = None  # export and erase of an agent
    persons: OperatorPersons | None = None  # one person across every agent holding them
    chat: PersonChat | None = None  # the OpenAI-compatible endpoint's person-to-agent chat

    def today(self) -> str:
        """The UTC day tokens are counted on."""
        return self.clock.now().date().isoformat()

    def blocks(self) -> OperatorMemory:
        if self.memory is None:
            raise RuntimeError("the composition root did not wire the memory service")
        return self.memory

    def data(self) -> OperatorAgentData:
        if self.agent_data is None:
            raise RuntimeError("the composition root did not wire export and erase")
        return self.agent_data

    def people(self) -> OperatorPersons:
        if self.persons is None:
            raise RuntimeError("the composition root did not wire persons")
        return self.persons
