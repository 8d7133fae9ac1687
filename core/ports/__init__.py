"""The ports: the small typed interfaces through which the core uses what lies outside it
(stores, the language model and embedder, other workers, platforms and files, time).

Grouped by area in the modules of this package and re-exported here, so code says
``from core.ports import RecallStore``. Adapters implement them; ``adapters.inmemory`` does
the stores in memory, and the same contract suite in ``tests/contracts`` runs against both.
The core also has callables it is given (``submit``, ``notify``): those are wiring, chosen in
the composition root, not ports.
"""

from core.ports.checkins import CheckinStore, Triggers
from core.ports.model import ChatModel, Embedder
from core.ports.platforms import GatewayPort, ReplySink, TurnObserver
from core.ports.sources import Clock, IdSource
from core.ports.storage import AgentStore, ArchivalStore, Inbox, RecallStore
from core.ports.traces import SystemTexts
from core.ports.uploads import DocumentParser, PlatformFiles, Progress, UploadIntake
from core.ports.workers import InboxSignals, LeaseHolder, Leases

__all__ = [
    "AgentStore",
    "ArchivalStore",
    "ChatModel",
    "CheckinStore",
    "Clock",
    "DocumentParser",
    "Embedder",
    "GatewayPort",
    "IdSource",
    "Inbox",
    "InboxSignals",
    "LeaseHolder",
    "Leases",
    "PlatformFiles",
    "Progress",
    "RecallStore",
    "ReplySink",
    "SystemTexts",
    "Triggers",
    "TurnObserver",
    "UploadIntake",
]
