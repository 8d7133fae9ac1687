"""Word search over recall while the agent's last step is still carried in its state.

Since a step's own messages reach recall storage only with the next event's message, a
search made between two events (a person's /search, an operator) must not let a store take
the carried messages as stored: once they are written, search must find them."""

from __future__ import annotations

from core.records import RecallQuery
from tests.contracts.conftest import Stores
from tests.support.agents import Harness
from tests.support.scripted import ScriptedModel, say


async def test_a_search_between_events_never_hides_the_last_step_later(stores: Stores) -> None:
    model = ScriptedModel([say("Your llama is called Quinoa."), say("Noted.")])
    h = Harness(model, agents=stores.agents, recall=stores.recall, archival=stores.archival)
    await h.send("what is my llama called?")
    # between events: the reply is carried in the agent's state, not in recall yet
    state = await stores.agents.load("agent-1")
    assert state is not None and state.unfiled, "the last step is carried in the state"
    await stores.recall.search("agent-1", RecallQuery(text="quinoa"))

    await h.send("thanks")  # files the carried reply
    found = await stores.recall.search("agent-1", RecallQuery(text="quinoa"))
    assert [m.spoken_text() for m in found.items] == ["Your llama is called Quinoa."]
