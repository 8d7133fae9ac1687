"""Each MemGPT function, called by the scripted model as a real model would."""

from __future__ import annotations

import re

from core.records import Passage
from core.turn.settings import AgentSettings
from tests.support.agents import Harness
from tests.support.scripted import ScriptedModel, call, say


def last_result(model: ScriptedModel) -> str:
    return model.requests[-1].messages[-1].content


async def run(h: Harness, model: ScriptedModel, response) -> str:
    """Have the model make one call (with a heartbeat) and return what it got back."""
    model.add(response, say("ok"))
    await h.send("go")
    return last_result(model)


async def test_core_memory_append_and_replace_edit_the_working_context() -> None:
    model = ScriptedModel()
    h = Harness(model)
    await run(
        h,
        model,
        call("core_memory_append", label="human", content="Name: Ana", request_heartbeat=True),
    )
    await run(
        h,
        model,
        call("core_memory_append", label="human", content="Likes: tea", request_heartbeat=True),
    )
    result = await run(
        h,
        model,
        call(
            "core_memory_replace",
            label="human",
            old_content="tea",
            new_content="coffee",
            request_heartbeat=True,
        ),
    )
    assert result == "Done. human now reads (23/2,000 characters):\nName: Ana\nLikes: coffee"
    state = (await h.runtime.session("agent-1")).state
    assert state.memory.block("human").value == "Name: Ana\nLikes: coffee"
    # deleting with an empty new_content removes the line
    await run(
        h,
        model,
        call(
            "core_memory_replace",
            label="human",
            old_content="Likes: coffee",
            new_content="",
            request_heartbeat=True,
        ),
    )
    assert (await h.runtime.session("agent-1")).state.memory.block("human").value == "Name: Ana"


async def test_block_limit_is_shown_and_enforced() -> None:
    model = ScriptedModel()
    h = Harness(model, settings=AgentSettings(block_limit=2000))
    result = await run(
        h,
        model,
        call("core_memory_append", label="human", content="x" * 2001, request_heartbeat=True),
    )
    assert result.startswith("Failed: Cannot append: block 'human' would hold 2,001 characters")
    assert (await h.runtime.session("agent-1")).state.memory.block("human").value == ""
    result = await run(
        h, model, call("core_memory_append", label="pets", content="cat", request_heartbeat=True)
    )
    assert "There is no memory block 'pets'" in result and "'persona', 'human'" in result


async def test_replace_refuses_ambiguous_text() -> None:
    model = ScriptedModel()
    h = Harness(model)
    await run(
        h,
        model,
        call(
            "core_memory_append",
            label="human",
            content="likes tea; sister likes tea",
            request_heartbeat=True,
        ),
    )
    result = await run(
        h,
        model,
        call(
            "core_memory_replace",
            label="human",
            old_content="likes tea",
            new_content="x",
            request_heartbeat=True,
        ),
    )
    assert "appears 2 times" in result
    assert (await h.runtime.session("agent-1")).state.memory.block(
        "human"
    ).value == "likes tea; sister likes tea"


async def test_conversation_search_pages_and_filters() -> None:
    model = ScriptedModel(default=say("noted"))
    h = Harness(model)
    for i in range(12):
        await h.send(f"my cat Miso did thing {i}")
        h.clock.advance(days=1)
    result = await run(
        h, model, call("conversation_search", query="Miso", page=2, request_heartbeat=True)
    )
    assert result.startswith("Showing 5 of 12 messages (page 2/3):")
    assert result.count("Miso") == 5
    assert re.search(r"^6\. \[#\d+ ", result, re.M), "numbering continues across pages"
    # roles really filter: the agent's own words only
    result = await run(
        h,
        model,
        call("conversation_search", query="noted", roles=["assistant"], request_heartbeat=True),
    )
    assert "you]" in result and "Miso" not in result
    result = await run(
        h,
        model,
        call("conversation_search", query="Miso", roles=["assistant"], request_heartbeat=True),
    )
    assert result == "No messages found."
    # the date range really filters (messages are a day apart, from 2026-11-21)
    result = await run(
        h,
        model,
        call(
            "conversation_search",
            query="Miso",
            start_date="2026-11-23",
            end_date="2026-11-24",
            request_heartbeat=True,
        ),
    )
    assert result.startswith("Showing 2 of 2 messages (page 1/1):")
    assert "thing 2" in result and "thing 3" in result
    result = await run(
        h, model, call("conversation_search", query="Miso", page=9, request_heartbeat=True)
    )
    assert result == "Page 9 is past the last page (3) of 12 messages."


async def test_conversation_search_date_lists_a_day_in_order() -> None:
    model = ScriptedModel(default=say("ok"))
    h = Harness(model)
    await h.send("first on the 21st")
    await h.send("second on the 21st")
    h.clock.advance(days=2)
    await h.send("on the 23rd")
    result = await run(
        h,
        model,
        call(
            "conversation_search_date",
            start_date="2026-11-21",
            end_date="2026-11-21",
            request_heartbeat=True,
        ),
    )
    lines = result.splitlines()
    assert lines[0] == "Showing 4 of 4 messages (page 1/1):"
    assert "first on the 21st" in lines[1] and "ok" in lines[2] and "second" in lines[3]
    assert "23rd" not in result
    bad = await run(
        h,
        model,
        call(
            "conversation_search_date",
            start_date="2026-11-25",
            end_date="2026-11-21",
            request_heartbeat=True,
        ),
    )
    assert bad.startswith("Failed: end_date 2026-11-21 is before start_date 2026-11-25")
    bad = await run(
        h,
        model,
        call(
            "conversation_search_date",
            start_date="21/11/2026",
            end_date="2026-11-21",
            request_heartbeat=True,
        ),
    )
    assert bad.startswith("Failed: invalid arguments for conversation_search_date: start_date:")


async def test_archival_insert_chunks_long_content_and_search_cites_and_pages() -> None:
    model = ScriptedModel()
    h = Harness(model)
    long_text = "\n\n".join(
        f"Paragraph {i}: the lighthouse keeper logged storm number {i}. " * 6 for i in range(30)
    )
    result = await run(
        h, model, call("archival_memory_insert", content=long_text, request_heartbeat=True)
    )
    n = int(re.match(r"Saved as (\d+) passages\.", result).group(1))
    passages = await h.archival.all("agent-1")
    assert n == len(passages) > 5
    assert all(h.counter.count(p.text) <= 300 for p in passages)
    joined = " ".join(p.text for p in passages)
    assert all(f"storm number {i}." in joined for i in range(30)), "nothing lost in chunking"
    await run(
        h,
        model,
        call(
            "archival_memory_insert",
            content="Ana's passport expires in March 2027.",
            request_heartbeat=True,
        ),
    )
    result = await run(
        h, model, call("archival_memory_search", query="passport expires", request_heartbeat=True)
    )
    first = result.splitlines()[1]
    assert first.startswith("1. [saved by you] Ana's passport expires in March 2027.")
    result = await run(
        h,
        model,
        call("archival_memory_search", query="lighthouse storm", page=2, request_heartbeat=True),
    )
    assert re.match(rf"Showing 5 of {n} results \(page 2/{-(-n // 5)}\):", result)


async def test_send_message_refuses_an_empty_message() -> None:
    model = ScriptedModel()
    h = Harness(model)
    result = await run(h, model, call("send_message", message="  "))
    assert result == "Failed: message is empty; nothing was sent."
    assert h.sink.texts == ["ok"]


async def test_a_search_page_never_costs_more_than_its_token_budget_and_says_when_cut() -> None:
    model = ScriptedModel()
    h = Harness(model, settings=AgentSettings(page_size=10))
    now = h.clock.now()
    words = " ".join(f"word{i}" for i in range(330))
    await h.archival.insert(
        "agent-1",
        [
            Passage(
                id=f"n{i}",
                text=f"Note {i} about the harbour. {words}",
                source="notes",
                created_at=now,
            )
            for i in range(10)
        ],
    )
    result = await run(
        h, model, call("archival_memory_search", query="harbour", request_heartbeat=True)
    )
    assert h.counter.count(result) <= 2000
    assert result.splitlines()[0] == "Showing 10 of 10 results (page 1/1):"
    assert result.splitlines()[-1].startswith("(Cut to fit 2,000 tokens: ")
    assert result.splitlines()[-1].endswith("results left out.)")


async def test_a_page_cut_to_fit_keeps_the_lines_with_the_query_words_of_every_result() -> None:
    model = ScriptedModel()
    h = Harness(model, settings=AgentSettings(page_size=10))
    now = h.clock.now()
    chatter = [
        f"Mel: line {j} about the weather, the garden and the week ahead." for j in range(25)
    ]
    logs = []
    for i in range(10):
        lines = list(chatter)
        lines[7 + i] = f"Caroline: the lighthouse at cove {i} opens in May."
        logs.append(Passage(id=f"log{i}", text="\n".join(lines), source="chat.md", created_at=now))
    await h.archival.insert("agent-1", logs)
    result = await run(
        h, model, call("archival_memory_search", query="lighthouse", request_heartbeat=True)
    )
    assert h.counter.count(result) <= 2000
    assert all(f"the lighthouse at cove {i} opens in May." in result for i in range(10))
    assert "…" in result and result.splitlines()[-1].startswith("(Cut to fit 2,000 tokens: ")


async def test_neighbouring_chunks_of_a_file_are_shown_once_as_one_result() -> None:
    model = ScriptedModel()
    h = Harness(model)
    now = h.clock.now()
    chunks = [
        "Mel: We went camping by the lake.\nCaroline: Did you see the eagle?",
        "Caroline: Did you see the eagle?\nMel: Yes, the eagle caught a fish at the lake.",
    ]
    await h.archival.insert(
        "agent-1",
        [
            Passage(
                id=f"trip:{i}",
                text=text,
                source="trip.md",
                section="session 3",
                chunk_index=i,
                document_id="trip",
                created_at=now,
            )
            for i, text in enumerate(chunks)
        ],
    )
    result = await run(
        h, model, call("archival_memory_search", query="eagle lake", request_heartbeat=True)
    )
    lines = result.splitlines()
    assert lines[0] == "Showing 2 of 2 results (page 1/1):"
    assert lines[1] == (
        "1+2. [trip.md, session 3, chunks 1-2] Mel: We went camping by the lake. Caroline: Did "
        "you see the eagle? Mel: Yes, the eagle caught a fish at the lake."
    )
    assert len(lines) == 2
