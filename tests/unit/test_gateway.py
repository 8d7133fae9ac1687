"""The front door: who is answered, commands, rate limits, budgets, events for agents."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from itertools import count

from core.inbound.commands import confirmation_code, parse_command
from core.inbound.messages import Attachment, IncomingMessage, PlatformPolicy, Sender, agent_key
from core.turn.settings import AgentSettings
from tests.support.agents import ManualClock
from tests.support.scripted import ScriptedModel, call, learns_tea_and_passport, say
from tests.support.service import service

_ids = count(1)


def msg(
    text: str, *, direct: bool = True, user: str = "u1", name: str = "Ana", **kw
) -> IncomingMessage:
    n = next(_ids)
    return IncomingMessage(
        platform="telegram",
        delivery_id=str(n),
        message_id=str(n),
        sender=Sender(user, name),
        channel_id=kw.pop("channel", user if direct else "group-1"),
        text=text,
        received_at=datetime.now(UTC),
        is_direct=direct,
        **kw,
    )


def test_agent_keys_follow_the_scope() -> None:
    dm = msg("hi")
    group = msg("hi", direct=False, thread_id="t9", workspace_id="g1")
    assert agent_key(dm, "channel") == "telegram:user:u1", "a DM is always the user's agent"
    assert agent_key(group, "user") == "telegram:user:u1"
    assert agent_key(group, "channel") == "telegram:channel:g1:group-1"
    assert agent_key(group, "thread") == "telegram:thread:g1:group-1:t9"


def test_text_commands() -> None:
    assert parse_command("/search my cat").name == "search"
    assert parse_command("/search my cat").argument == "my cat"
    assert parse_command("/memory@pagemind_bot", "pagemind_bot").name == "memory"
    assert parse_command("/memory@other_bot", "pagemind_bot") is None
    assert parse_command("/unknown") is None and parse_command("hello /memory") is None


async def test_dm_is_answered_group_only_when_addressed() -> None:
    model = ScriptedModel(default=say("hello"))
    async with service(model, policies={"telegram": PlatformPolicy()}) as h:
        accepted = await h.gateway.receive(msg("hi there"))
        assert accepted.status == "accepted" and accepted.done is not None
        await accepted.done
        assert (await h.gateway.receive(msg("chatting", direct=False))).status == "ignored"
        mentioned = await h.gateway.receive(msg("@bot hi", direct=False, mentions_bot=True))
        replied = await h.gateway.receive(msg("thanks", direct=False, replies_to_bot=True))
        assert mentioned.status == replied.status == "accepted"
    async with service(model, policies={"telegram": PlatformPolicy(answer="always")}) as h:
        assert (await h.gateway.receive(msg("chatting", direct=False))).status == "accepted"


async def test_redelivered_message_is_processed_once() -> None:
    model = ScriptedModel(default=say("once"))
    async with service(model, policies={"telegram": PlatformPolicy()}) as h:
        first = msg("hello")
        assert (await h.gateway.receive(first)).status == "accepted"
        assert (await h.gateway.receive(first)).status == "duplicate"
        await h.dispatcher.join()
        assert len(model.requests) == 1


async def test_allowlists_refuse_politely_in_dms_and_silently_in_groups() -> None:
    policy = PlatformPolicy(
        allowed_users=frozenset({"u1"}), allowed_channels=frozenset({"ok-group"})
    )
    async with service(ScriptedModel(default=say("x")), policies={"telegram": policy}) as h:
        refused = await h.gateway.receive(msg("hi", user="stranger"))
        assert (
            refused.status == "refused" and refused.reply == "Sorry, I'm not available to you here."
        )
        quiet = await h.gateway.receive(msg("hi", direct=False, mentions_bot=True, channel="other"))
        assert quiet.status == "refused" and quiet.reply is None
        ok = await h.gateway.receive(msg("hi", direct=False, mentions_bot=True, channel="ok-group"))
        assert ok.status == "accepted"


async def test_per_user_rate_limit() -> None:
    policy = PlatformPolicy(messages_per_minute=3)
    async with service(ScriptedModel(default=say("x")), policies={"telegram": policy}) as h:
        statuses = [(await h.gateway.receive(msg(f"m{i}"))).status for i in range(5)]
        assert statuses == ["accepted"] * 3 + ["rate_limited"] * 2
        other = await h.gateway.receive(msg("hi", user="u2"))
        assert other.status == "accepted", "limits are per user"
        limited = await h.gateway.receive(msg("again"))
        assert limited.reply is not None and "please wait" in limited.reply


async def test_the_rate_limit_refills_on_the_services_clock() -> None:
    policy = PlatformPolicy(messages_per_minute=3)
    clock = ManualClock()
    model = ScriptedModel(default=say("x"))
    async with service(model, policies={"telegram": policy}, clock=clock) as h:
        statuses = [(await h.gateway.receive(msg(f"m{i}"))).status for i in range(4)]
        assert statuses == ["accepted"] * 3 + ["rate_limited"]
        limited = await h.gateway.receive(msg("still too soon"))
        assert limited.reply is not None and "wait 20 seconds" in limited.reply
        clock.advance(seconds=20)  # one message's worth at 3 a minute
        assert (await h.gateway.receive(msg("later"))).status == "accepted"
        assert (await h.gateway.receive(msg("and again"))).status == "rate_limited"


async def test_daily_budget_stops_model_calls_politely() -> None:
    model = ScriptedModel(default=say("answer"))
    settings = AgentSettings(daily_token_budget=150)  # each scripted call reports 110 tokens
    async with service(model, policies={"telegram": PlatformPolicy()}, settings=settings) as h:
        sent: list[str] = []

        class Sink:
            async def send(self, reply) -> None:
                sent.append(reply.text)

        h.replies.register("telegram", Sink())
        for text in ("one", "two", "three"):
            result = await h.gateway.receive(msg(text))
            await result.done
        assert len(model.requests) == 2, "no model call once the budget is spent"
        assert sent[:2] == ["answer", "answer"]
        assert "reached my conversation limit for today" in sent[2]
        assert any(m.content == "three" for m in await h.recall.range("telegram:user:u1", 0, 99))


async def test_commands_memory_search_export_erase() -> None:
    model = learns_tea_and_passport("Ana")
    async with service(model, policies={"telegram": PlatformPolicy()}) as h:
        await (await h.gateway.receive(msg("I like green tea"))).done
        memory = await h.gateway.receive(msg("/memory"))
        assert memory.status == "command" and "Likes green tea" in memory.reply
        found = await h.gateway.receive(msg("/search passport"))
        assert "passport number ends 123" in found.reply
        exported = await h.gateway.receive(msg("/export"))
        name, body = exported.file
        assert name.endswith(".json") and b"Likes green tea" in body and b"passport" in body
        ask = await h.gateway.receive(msg("/erase"))
        code = confirmation_code("telegram:user:u1", datetime.now(UTC))
        assert f"/erase {code}" in ask.reply
        wrong = await h.gateway.receive(msg("/erase NOPE"))
        assert "nothing was erased" in wrong.reply
        assert await h.agents.load("telegram:user:u1") is not None
        done = await h.gateway.receive(msg(f"/erase {code.lower()}"))
        assert done.reply.startswith("Done")
        assert await h.agents.load("telegram:user:u1") is None
        assert (
            await h.recall.count("telegram:user:u1") == 0
            and await h.archival.count("telegram:user:u1") == 0
        )
        assert "Likes green tea" not in (await h.gateway.receive(msg("/memory"))).reply


async def test_operators_can_restrict_commands() -> None:
    policy = PlatformPolicy(admins=frozenset({"boss"}), admin_only_commands=frozenset({"export"}))
    async with service(ScriptedModel(), policies={"telegram": policy}) as h:
        assert "Only the operators" in (await h.gateway.receive(msg("/export"))).reply
        assert (await h.gateway.receive(msg("/export", user="boss"))).file is not None


async def test_group_members_get_their_own_memory_blocks() -> None:
    model = ScriptedModel(
        [
            call(
                "core_memory_append",
                label="human",
                content="is vegetarian",
                request_heartbeat=False,
            ),
            call(
                "core_memory_append", label="human", content="loves steak", request_heartbeat=False
            ),
        ]
    )
    policy = PlatformPolicy(scope="channel")
    async with service(model, policies={"telegram": policy}) as h:
        a = await h.gateway.receive(
            msg("@bot I'm vegetarian", direct=False, mentions_bot=True, user="alice", name="Alice")
        )
        await a.done
        b = await h.gateway.receive(
            msg("@bot I love steak", direct=False, mentions_bot=True, user="bob", name="Bob")
        )
        await b.done
        state = await h.agents.load(a.agent_key)
        assert state.memory.block("human:alice").value == "is vegetarian"
        assert state.memory.block("human:bob").value == "loves steak"
        assert state.memory.block("human:bob").title == "Bob"
        assert "group conversation" in state.memory.render()
        # /memory shows each person only what is kept about them
        mine = await h.gateway.receive(msg("/memory", direct=False, user="alice", name="Alice"))
        assert "vegetarian" in mine.reply and "steak" not in mine.reply


async def test_attachments_without_an_upload_pipeline_get_a_clear_answer() -> None:
    async with service(
        ScriptedModel(default=say("ok")), policies={"telegram": PlatformPolicy()}
    ) as h:
        result = await h.gateway.receive(msg("", attachments=(Attachment("a.pdf", "file-1", 10),)))
        assert result.reply is not None and "can't read files" in result.reply


async def test_an_edit_becomes_a_new_event() -> None:
    model = ScriptedModel(default=say("ok"))
    async with service(model, policies={"telegram": PlatformPolicy()}) as h:
        original = msg("meet at 5")
        await (await h.gateway.receive(original)).done
        edited = replace(original, text="meet at 6", is_edit=True, received_at=datetime.now(UTC))
        result = await h.gateway.receive(edited)
        assert result.status == "accepted"
        await result.done
        assert model.requests[-1].messages[-1].content.endswith("(edited) meet at 6")
