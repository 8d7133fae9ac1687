"""RecallStore contract: every backend finds, filters, orders and pages alike."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from core.errors import ConcurrentUpdateError
from core.messages import Message, ToolCall
from core.records import RecallQuery
from tests.contracts.conftest import Stores

AGENT = "discord:user:42"


def user(seq: int, text: str, clock, **kw) -> Message:
    return Message(
        seq=seq, role="user", kind="user_message", content=text, created_at=clock.now(), **kw
    )


def reply(seq: int, text: str, clock) -> Message:
    call = ToolCall(id=f"c{seq}", name="send_message", arguments=json.dumps({"message": text}))
    return Message(
        seq=seq,
        role="assistant",
        kind="assistant",
        content="",
        tool_calls=(call,),
        created_at=clock.now(),
    )


async def conversation(stores: Stores, agent: str = AGENT) -> None:
    lines = [
        "My cat Miso knocked a glass off the table",
        "Sorry to hear about the glass!",
        "We are planning a trip to Lisbon in March",
        "Lisbon in March sounds lovely.",
        "Miso loves the balcony; cats like heights",
        "Cats do like high places.",
    ]
    messages = []
    for i, text in enumerate(lines, start=1):
        stores.clock.advance(days=1)
        messages.append(user(i, text, stores.clock) if i % 2 else reply(i, text, stores.clock))
    await stores.recall.append(agent, messages)


async def test_append_and_range_round_trip(stores: Stores) -> None:
    await conversation(stores)
    got = await stores.recall.range(AGENT, 1, 4)
    assert [m.seq for m in got] == [2, 3, 4]
    assert (
        got[0].tool_calls[0].name == "send_message"
        and got[0].spoken_text() == "Sorry to hear about the glass!"
    )
    assert (
        got[1].created_at == stores.clock.now() - timedelta(days=3)
        or abs((got[1].created_at - (stores.clock.now() - timedelta(days=3))).total_seconds())
        < 0.01
    )
    assert await stores.recall.range(AGENT, 6, 6) == []
    assert await stores.recall.count(AGENT) == 6


async def test_append_is_idempotent_but_refuses_a_different_message(stores: Stores) -> None:
    first = user(1, "hello", stores.clock)
    await stores.recall.append(AGENT, [first])
    await stores.recall.append(AGENT, [first])  # a replay of the same write
    assert await stores.recall.count(AGENT) == 1
    with pytest.raises(ConcurrentUpdateError):
        await stores.recall.append(AGENT, [user(1, "something else", stores.clock)])


async def test_word_search_ranks_alike_and_stems(stores: Stores) -> None:
    await conversation(stores)
    page = await stores.recall.search(AGENT, RecallQuery(text="Miso cats"))
    assert [m.seq for m in page.items] == [5, 1, 6]  # both words, shorter first; then one word
    assert page.total == 3
    page = await stores.recall.search(AGENT, RecallQuery(text="planned trips"))
    assert [m.seq for m in page.items] == [3]
    page = await stores.recall.search(AGENT, RecallQuery(text="zebra"))
    assert page.items == () and page.total == 0
    page = await stores.recall.search(AGENT, RecallQuery(text="the of and"))
    assert page.total == 0


async def test_filters_order_and_paging(stores: Stores) -> None:
    await conversation(stores)
    start = stores.clock.now() - timedelta(days=4)  # messages 2..6 are on or after this
    everything = RecallQuery(order="oldest", limit=10)
    assert [m.seq for m in (await stores.recall.search(AGENT, everything)).items] == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]
    newest = await stores.recall.search(AGENT, RecallQuery(order="newest", limit=2, offset=2))
    assert [m.seq for m in newest.items] == [4, 3] and newest.total == 6
    mine = await stores.recall.search(
        AGENT, RecallQuery(roles=frozenset({"assistant"}), order="oldest", limit=10)
    )
    assert [m.seq for m in mine.items] == [2, 4, 6]
    dated = await stores.recall.search(
        AGENT, RecallQuery(start=start, end=start + timedelta(days=2), order="oldest", limit=10)
    )
    assert [m.seq for m in dated.items] == [2, 3]
    text_and_date = await stores.recall.search(
        AGENT, RecallQuery(text="Lisbon", start=start + timedelta(days=2))
    )
    assert [m.seq for m in text_and_date.items] == [4]
    upto = await stores.recall.search(AGENT, RecallQuery(text="Lisbon", max_seq=3))
    assert [m.seq for m in upto.items] == [3]


async def test_tool_results_are_not_searched(stores: Stores) -> None:
    result = Message(
        seq=1,
        role="tool",
        kind="tool_result",
        content="Lisbon Lisbon",
        created_at=stores.clock.now(),
        tool_call_id="c",
        tool_name="archival_memory_search",
    )
    await stores.recall.append(AGENT, [result])
    assert (await stores.recall.search(AGENT, RecallQuery(text="Lisbon"))).total == 0


async def test_agents_never_see_each_other(stores: Stores) -> None:
    await conversation(stores, "telegram:user:1")
    await conversation(stores, "telegram:user:10")
    await stores.recall.append("telegram:user:1", [user(7, "secret pin 1234", stores.clock)])
    assert (
        await stores.recall.search("telegram:user:10", RecallQuery(text="secret pin"))
    ).total == 0
    assert [m.seq for m in await stores.recall.range("telegram:user:10", 0, 100)] == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]
    await stores.recall.erase("telegram:user:1")
    assert await stores.recall.count("telegram:user:1") == 0
    assert await stores.recall.count("telegram:user:10") == 6


async def test_discard_after_removes_only_the_uncommitted_tail(stores: Stores) -> None:
    await conversation(stores)
    assert await stores.recall.discard_after(AGENT, 4) == 2
    assert [m.seq for m in await stores.recall.range(AGENT, 0, 100)] == [1, 2, 3, 4]
    assert (await stores.recall.search(AGENT, RecallQuery(text="Miso"))).total == 1


async def test_any_form_of_a_word_finds_the_others(stores: Stores) -> None:
    await stores.recall.append(
        AGENT,
        [
            user(1, "I finished two paintings this weekend", stores.clock),
            user(2, "Which breeds of dog do you like?", stores.clock),
        ],
    )
    for words, expected in [("paintings", [1]), ("painting", [1]), ("breeds", [2])]:
        page = await stores.recall.search(AGENT, RecallQuery(text=words))
        assert [m.seq for m in page.items] == expected, words


async def test_equal_scores_rank_the_newer_message_first(stores: Stores) -> None:
    await stores.recall.append(
        AGENT, [user(seq, "see you at the harbour", stores.clock) for seq in (1, 2, 3)]
    )
    page = await stores.recall.search(AGENT, RecallQuery(text="harbour"))
    assert [m.seq for m in page.items] == [3, 2, 1]


async def test_forgetting_an_author_removes_what_they_wrote_from_reads_and_search(
    stores: Stores,
) -> None:
    """A person erased from a group agent: their messages go, at once, from ranges, counts
    and word search (whose held index, built by a search that saw them, stays exact);
    another person's messages and the agent's own stay."""
    group = "discord:channel:1:9"
    clock = stores.clock
    said = [
        user(1, "Miso the cat sleeps on the balcony", clock, author_id="ana"),
        reply(2, "Miso sounds cosy.", clock),
        user(3, "My cat Pebble sleeps in a box", clock, author_id="ben"),
        reply(4, "Pebble knows comfort.", clock),
        user(5, "Miso and Pebble should meet, cats like company", clock, author_id="ana"),
    ]
    await stores.recall.append(group, said)
    await conversation(stores)  # another agent, the same words
    committed = RecallQuery(text="cat sleeps", max_seq=5)  # held from here on (MongoDB)
    assert {m.seq for m in (await stores.recall.search(group, committed)).items} == {1, 3, 5}
    assert await stores.recall.forget_author(group, "ana") == 2
    assert [m.seq for m in await stores.recall.range(group, 0, 10)] == [2, 3, 4]
    assert await stores.recall.count(group) == 3
    for query in (committed, RecallQuery(text="cat sleeps"), RecallQuery(text="Miso balcony")):
        page = await stores.recall.search(group, query)
        expected = [3] if "cat" in (query.text or "") else [2]  # "Miso sounds cosy." stays
        assert [m.seq for m in page.items] == expected and page.total == 1, query
    listed = await stores.recall.search(group, RecallQuery(order="oldest"))
    assert [m.seq for m in listed.items] == [2, 3, 4]
    assert await stores.recall.forget_author(group, "ana") == 0  # again: nothing more
    assert await stores.recall.count(AGENT) == 6
    assert (await stores.recall.search(AGENT, RecallQuery(text="Miso"))).total == 2
