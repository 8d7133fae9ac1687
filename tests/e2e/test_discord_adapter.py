"""The Discord adapter end to end: the REAL discord.py 2.7 against the protocol fake
(tests/support/fakes/discord/) over 127.0.0.1, wired to the whole in-process service
(real gateway, dispatcher and agent runtime; in-memory stores; a scripted model).

Nothing of discord.py or of our own modules is mocked: tests push gateway events into the
fake and assert on what a Discord user would see (messages, replies, typing, files).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

# Imported through importorskip, like the fake's own self-test: discord.py imports the stdlib
# ``audioop``, which warns on 3.11+, and the suite turns warnings into errors.
pytest.importorskip("discord")

from adapters.discord_chat import DiscordAdapter
from adapters.discord_chat.outbound import fit_file
from config.platforms import DiscordSettings
from core.errors import ConfigurationError, UploadError
from core.events import Address, SendReply
from core.inbound.commands import COMMANDS, HELP
from core.inbound.gateway import NOT_ALLOWED
from core.inbound.messages import Attachment, IncomingMessage, PlatformPolicy
from core.notices import BUDGET_NOTICE, NOT_RECORDED
from core.ports.model import ChatRequest
from core.turn.settings import AgentSettings
from tests.support.fakes.discord import (
    DIRECT_MESSAGES,
    GUILD_MESSAGES,
    MESSAGE_CONTENT,
    FakeDiscord,
)
from tests.support.scripted import GatedModel, ScriptedModel, say
from tests.support.service import ServiceHarness, service

Json = dict[str, Any]
MESSAGES = "/channels/{channel_id}/messages"
FOLLOWUPS = "/webhooks/{application_id}/{token}"
CDN = "/attachments/{attachment_id}/{filename}"


# ---------------------------------------------------------------------- fixtures and helpers


@pytest.fixture
async def dc() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        with fake.patch_discord_py():  # restores discord.py's globals after the test
            yield fake


def discord_settings(dc: FakeDiscord, **overrides: Any) -> DiscordSettings:
    return DiscordSettings(_env_file=None, token=SecretStr(dc.token), **overrides)


@asynccontextmanager
async def running(
    dc: FakeDiscord,
    model: ScriptedModel,
    *,
    policy: PlatformPolicy | None = None,
    agent: AgentSettings | None = None,
    intake: RecordingIntake | None = None,
    settings: DiscordSettings | None = None,
    typing_interval: float = 8.0,
) -> AsyncIterator[tuple[ServiceHarness, DiscordAdapter]]:
    """The service plus a started adapter, registered as the "discord" reply sink."""
    policy = policy or PlatformPolicy()
    async with service(model, policies={"discord": policy}, settings=agent) as h:
        adapter = DiscordAdapter(
            settings or discord_settings(dc),
            h.gateway,
            policy,
            ready_timeout=5,
            guild_ready_timeout=0.05,
            typing_interval=typing_interval,
        )
        if intake is not None:
            intake.files = adapter
        h.attach("discord", adapter, intake)
        await adapter.start()
        try:
            yield h, adapter
        finally:
            await adapter.stop()


def replies_in(dc: FakeDiscord, channel_id: int) -> list[str]:
    return [m["content"] for m in dc.sent_messages(channel_id)]


async def wait_replies(dc: FakeDiscord, channel_id: int, count: int) -> list[Json]:
    def enough() -> list[Json]:
        sent = dc.sent_messages(channel_id)
        return sent[:count] if len(sent) >= count else []

    return await dc.wait_for(enough)


def last_user_text(request: ChatRequest) -> str:
    return request.messages[-1].content


class RecordingIntake:
    """A fake ``UploadIntake`` (the port the gateway hands attachments to): it downloads each
    file through the adapter's ``PlatformFiles`` side, shows a status message, and records
    what it got."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.files: DiscordAdapter | None = None
        self.received: dict[str, bytes] = {}
        self.status_ids: list[str] = []

    async def accept(
        self, message: IncomingMessage, attachment: Attachment, agent_key: str
    ) -> str | None:
        assert self.files is not None
        try:
            data = await self.files.download(attachment, self.max_bytes)
        except UploadError as exc:
            return str(exc)
        self.received[attachment.filename] = data
        status = await self.files.post_status(message.address, f"Reading {attachment.filename}…")
        self.status_ids.append(status)
        await self.files.edit_status(
            message.address, status, f"Read {attachment.filename} ({len(data)} bytes)."
        )
        return None


class ExplodingIntake:
    """An intake that crashes: the adapter must log it and keep serving."""

    files: DiscordAdapter | None = None

    async def accept(
        self, message: IncomingMessage, attachment: Attachment, agent_key: str
    ) -> str | None:
        raise RuntimeError("intake exploded")


async def run_command(dc: FakeDiscord, name: str, options: Json | None = None, **kw: Any) -> Json:
    """Run a slash command; returns the (edited) deferred response once it has content."""
    interaction = await dc.send_slash_command(name, options, **kw)

    def answered() -> Json:
        for response in dc.interaction_responses:
            if response["interaction_id"] == int(interaction["id"]) and response["message_id"]:
                message = dc.message(response["message_id"])
                if message["content"]:
                    return message | {"response_type": response["type"]}
        return {}

    return await dc.wait_for(answered)


# ---------------------------------------------------------------------- conversations


async def test_dm_is_answered_as_a_reply_after_a_clean_start(dc: FakeDiscord) -> None:
    model = ScriptedModel([say("Hello Alice, nice to meet you.")])
    async with running(dc, model) as (h, adapter):
        assert adapter.bot_user_id == str(dc.bot.id)
        assert dc.intents is not None
        assert dc.intents & GUILD_MESSAGES and dc.intents & DIRECT_MESSAGES
        assert dc.intents & MESSAGE_CONTENT
        assert sorted(c["name"] for c in dc.commands[None]) == sorted(COMMANDS)

        dm = await dc.send_dm("hi, I'm Alice")
        (reply,) = await wait_replies(dc, dc.dm_channel().id, 1)

        assert reply["content"] == "Hello Alice, nice to meet you."
        assert reply["message_reference"]["message_id"] == dm["id"]
        assert "hi, I'm Alice" in last_user_text(model.requests[0])
        assert await h.agents.load(f"discord:user:{dc.user.id}") is not None
    assert not dc.connected  # stop() closed the gateway connection


async def test_guild_messages_are_answered_only_when_addressed(dc: FakeDiscord) -> None:
    model = ScriptedModel(default=say("At your service."))
    channel = dc.text_channel.id
    async with running(dc, model, policy=PlatformPolicy(answer="mention")) as (h, _):
        await dc.send_guild_message("just chatting with friends")
        mention = await dc.send_guild_message("what's the capital of Peru?", mention_bot=True)
        (first,) = await wait_replies(dc, channel, 1)
        assert first["message_reference"]["message_id"] == mention["id"]

        # a reply to the bot's message counts, even one that does not ping it
        followup = await dc.send_guild_message(
            "and of Chile?", reply_to=dc.message(first["id"]), reply_ping=False
        )
        second = (await wait_replies(dc, channel, 2))[1]
        assert second["message_reference"]["message_id"] == followup["id"]
        await h.dispatcher.join()

        seen = [last_user_text(r) for r in model.requests]
        assert len(seen) == 2, "the unaddressed message never reached the model"
        assert "what's the capital of Peru?" in seen[0]
        assert "<@" not in seen[0], "the bot's mention is stripped from the text"
        assert "and of Chile?" in seen[1]


async def test_a_long_reply_is_split_on_paragraph_boundaries(dc: FakeDiscord) -> None:
    paragraphs = [f"Paragraph {i}: " + "lorem ipsum dolor sit amet. " * 16 for i in range(10)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    assert len(text) > 4000
    async with running(dc, ScriptedModel([say(text)])):
        dm = await dc.send_dm("tell me everything")
        await dc.wait_for(lambda: "Paragraph 9" in "".join(replies_in(dc, dc.dm_channel().id)))
        sent = dc.sent_messages(dc.dm_channel().id)

        assert len(sent) == 3
        assert all(len(m["content"]) <= 2000 for m in sent)
        assert all(m["content"].endswith("amet.") for m in sent), "cut between paragraphs"
        assert "\n\n".join(m["content"] for m in sent) == text
        assert sent[0]["message_reference"]["message_id"] == dm["id"]
        assert all("message_reference" not in m for m in sent[1:])


async def test_typing_is_shown_while_the_agent_works(dc: FakeDiscord) -> None:
    model = GatedModel([say("Done thinking.")])
    async with running(dc, model, typing_interval=0.05):
        dm_id = dc.dm_channel().id
        await dc.send_dm("a hard question")
        await dc.wait_for(lambda: len(dc.typing_calls) >= 3)  # renewed while the model works
        assert replies_in(dc, dm_id) == []
        assert set(dc.typing_calls) == {dm_id}

        model.gate.set()
        await wait_replies(dc, dm_id, 1)
        (post,) = dc.calls_to("POST", MESSAGES)
        typing = dc.calls_to("POST", "/channels/{channel_id}/typing")
        assert typing[0].timestamp < post.timestamp


async def test_typing_goes_on_when_discord_redelivers_the_message(dc: FakeDiscord) -> None:
    """A redelivery while the agent still works is a duplicate: it must not end the first
    delivery's typing indicator (it did: the gateway cancelled the future both shared)."""
    model = GatedModel([say("Done thinking.")])
    async with running(dc, model, typing_interval=0.05):
        dm_id = dc.dm_channel().id
        first = await dc.send_dm("a hard question")
        await dc.wait_for(lambda: len(dc.typing_calls) >= 2)
        await dc.redeliver(first)
        shown = len(dc.typing_calls)
        await dc.wait_for(lambda: len(dc.typing_calls) >= shown + 3)  # still renewed
        assert replies_in(dc, dm_id) == []

        model.gate.set()
        (reply,) = await wait_replies(dc, dm_id, 1)
        assert reply["content"] == "Done thinking."
        assert len(model.requests) == 1


async def test_a_message_in_a_thread_is_answered_in_the_thread(dc: FakeDiscord) -> None:
    model = ScriptedModel([say("Answered in the thread.")])
    async with running(dc, model, policy=PlatformPolicy(scope="thread")) as (h, _):
        asked = await dc.send_guild_message("thread question", channel=dc.thread, mention_bot=True)
        (reply,) = await wait_replies(dc, dc.thread.id, 1)

        assert reply["content"] == "Answered in the thread."
        assert reply["message_reference"]["message_id"] == asked["id"]
        assert replies_in(dc, dc.text_channel.id) == []
        # the conversation is placed under the thread's parent channel, and the thread
        key = f"discord:thread:{dc.guild.id}:{dc.text_channel.id}:{dc.thread.id}"
        assert await h.agents.load(key) is not None


async def test_an_edited_message_is_read_again(dc: FakeDiscord) -> None:
    model = ScriptedModel([say("Noted."), say("Noted the correction.")])
    async with running(dc, model):
        dm = await dc.send_dm("my cat is called Tom")
        await wait_replies(dc, dc.dm_channel().id, 1)
        await dc.edit_message(dm, "my cat is called Tim")
        await wait_replies(dc, dc.dm_channel().id, 2)

        assert "my cat is called Tim" in last_user_text(model.requests[1])
        assert "(edited)" in last_user_text(model.requests[1])


# ---------------------------------------------------------------------- files


async def test_attachments_are_downloaded_through_the_adapter(dc: FakeDiscord) -> None:
    intake = RecordingIntake(max_bytes=32)
    notes = b"Tea at five. Call mum on Sunday."
    assert len(notes) <= 32
    small = dc.add_attachment("notes.txt", notes)
    large = dc.add_attachment("big.bin", b"\x00" * 64)
    model = ScriptedModel([say("Thanks for the notes.")])
    async with running(dc, model, intake=intake):
        dm_id = dc.dm_channel().id
        await dc.send_dm("here are my notes", attachments=[small, large])
        await dc.wait_for(lambda: "Thanks for the notes." in replies_in(dc, dm_id))

        assert intake.received == {"notes.txt": notes}
        assert len(dc.calls_to("GET", CDN)) == 1, "the oversized file was never downloaded"
        (status,) = intake.status_ids
        assert dc.message(status)["content"] == "Read notes.txt (32 bytes)."
        refusal = next(text for text in replies_in(dc, dm_id) if "big.bin" in text)
        assert refusal == "big.bin is 64 bytes, but I can only take files up to 32 bytes here."


async def test_a_crashing_handler_is_logged_and_the_bot_keeps_answering(
    dc: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    model = ScriptedModel([say("Still here.")])
    async with running(dc, model, intake=ExplodingIntake()):  # type: ignore[arg-type]
        with caplog.at_level(logging.ERROR, logger="adapters.discord_chat"):
            bad = await dc.send_dm("take this", attachments=[dc.add_attachment("a.txt", b"x")])
            await dc.wait_for(lambda: "could not handle Discord message" in caplog.text)
        assert bad["id"] in caplog.text
        (told,) = await wait_replies(dc, dc.dm_channel().id, 1)
        assert told["content"] == NOT_RECORDED, "Discord never sends it again: the person is told"
        await dc.send_dm("are you still there?")
        (_, reply) = await wait_replies(dc, dc.dm_channel().id, 2)
        assert reply["content"] == "Still here."


# ---------------------------------------------------------------------- commands


async def test_every_command_works_as_a_private_slash_command(dc: FakeDiscord) -> None:
    model = ScriptedModel([say("I'll remember that you like green tea.")])
    async with running(dc, model) as (h, _):
        await dc.send_dm("I like green tea")
        await wait_replies(dc, dc.dm_channel().id, 1)
        await h.dispatcher.join()

        help_ = await run_command(dc, "help")
        assert help_["content"] == HELP
        assert help_["response_type"] == 5 and help_["flags"] & 64  # deferred, ephemeral

        memory = await run_command(dc, "memory")
        assert "About you" in memory["content"] and "messages" in memory["content"]

        found = await run_command(dc, "search", {"query": "green tea"})
        assert found["content"].startswith("In our conversations:")
        assert "green tea" in found["content"]

        export = await run_command(dc, "export")
        assert export["content"].startswith("Everything I remember of you")
        (upload,) = await dc.wait_for(lambda: [f for f in dc.followups if f["attachments"]])
        assert upload["flags"] & 64
        (file,) = upload["attachments"]
        assert re.fullmatch(r"pagemind-memory-\d{8}-\d{4}\.json", file["filename"])
        async with aiohttp.ClientSession() as http, http.get(file["url"]) as resp:
            exported = json.loads(await resp.read())
        assert any("green tea" in json.dumps(m) for m in exported["messages"])

        ask = await run_command(dc, "erase")
        code = re.search(r"/erase ([0-9A-F]{6})", ask["content"])
        assert code is not None, ask["content"]
        assert await h.agents.load(f"discord:user:{dc.user.id}") is not None
        done = await run_command(dc, "erase", {"code": code.group(1)})
        assert done["content"] == "Done: I have forgotten everything about you."
        assert await h.agents.load(f"discord:user:{dc.user.id}") is None
        assert len(model.requests) == 1, "commands never call the model"


async def test_slash_command_in_a_dm_and_a_text_command(dc: FakeDiscord) -> None:
    model = ScriptedModel()
    async with running(dc, model):
        in_dm = await run_command(dc, "help", channel=dc.dm_channel())
        assert in_dm["content"] == HELP

        dm = await dc.send_dm("/help")
        (reply,) = await wait_replies(dc, dc.dm_channel().id, 1)
        assert reply["content"] == HELP
        assert reply["message_reference"]["message_id"] == dm["id"]

        await dc.send_dm("/export")  # a text command's file is attached to its reply
        export = (await wait_replies(dc, dc.dm_channel().id, 2))[1]
        assert export["content"].startswith("Everything I remember of you")
        (file,) = export["attachments"]
        async with aiohttp.ClientSession() as http, http.get(file["url"]) as resp:
            assert json.loads(await resp.read())["agent_key"] == f"discord:user:{dc.user.id}"
        assert model.requests == []


def test_a_file_too_large_for_discord_is_described_instead_of_sent() -> None:
    text, file = fit_file("Here is your export.", ("export.json", b"x" * 2048), limit=1024)
    assert file is None
    assert text == (
        "Here is your export.\n\n(export.json is 2,048 bytes, more than Discord lets me "
        "upload here: 1,024 bytes.)"
    )
    assert fit_file("ok", ("a.json", b"{}"), limit=1024) == ("ok", ("a.json", b"{}"))


# ---------------------------------------------------------------------- delivery


async def test_a_rate_limited_send_is_retried(dc: FakeDiscord) -> None:
    dm_id = dc.dm_channel().id
    async with running(dc, ScriptedModel([say("Worth the wait.")])):
        dc.fail_next("POST", f"/channels/{dm_id}/messages", status=429, retry_after=0.1)
        await dc.send_dm("hello")
        (reply,) = await wait_replies(dc, dm_id, 1)

        assert reply["content"] == "Worth the wait."
        attempts = dc.calls_to("POST", f"/channels/{dm_id}/messages")
        assert [c.status for c in attempts] == [429, 200]
        assert attempts[0].json["nonce"] == attempts[1].json["nonce"]


async def test_a_repeated_send_creates_one_message(dc: FakeDiscord) -> None:
    async with running(dc, ScriptedModel()) as (_, adapter):
        address = Address(platform="discord", channel_id=str(dc.text_channel.id))
        reply = SendReply(
            agent_key="discord:channel:x",
            event_id="discord:1",
            idempotency_key="discord:1:step-1:0",
            text="Only once, please.",
            address=address,
        )
        await adapter.send(reply)
        await adapter.send(reply)  # a retry (say, after a timeout or a replayed turn)
        await adapter.send(reply.model_copy(update={"idempotency_key": "discord:1:step-2:0"}))

        posts = dc.calls_to("POST", f"/channels/{dc.text_channel.id}/messages")
        assert len(posts) == 3
        assert posts[0].json["nonce"] == posts[1].json["nonce"] != posts[2].json["nonce"]
        assert all(p.json["enforce_nonce"] is True for p in posts)
        assert replies_in(dc, dc.text_channel.id) == ["Only once, please."] * 2


async def test_delivery_failures_are_logged_not_raised(
    dc: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(dc, ScriptedModel()) as (_, adapter):
        gone = Address(platform="discord", channel_id="123456789")
        with caplog.at_level(logging.WARNING, logger="adapters.discord_chat"):
            await adapter.send(
                SendReply(
                    agent_key="discord:user:1",
                    event_id="e1",
                    idempotency_key="k1",
                    text="Anyone there?",
                    address=gone,
                )
            )
            assert await adapter.post_status(gone, "Reading…") == ""
        assert "is gone" in caplog.text
        with pytest.raises(UploadError, match="no longer exists"):
            url = f"{dc.base_url}/attachments/1/missing.txt"
            await adapter.download(Attachment("missing.txt", url, size=3), 100)


async def test_a_redelivered_message_is_processed_once(dc: FakeDiscord) -> None:
    model = ScriptedModel(default=say("Got it."))
    async with running(dc, model) as (h, _):
        dm_id = dc.dm_channel().id
        first = await dc.send_dm("remember my birthday is in May")
        await wait_replies(dc, dm_id, 1)
        await dc.redeliver(first)  # Discord delivers at least once
        await dc.send_dm("thanks")
        await wait_replies(dc, dm_id, 2)
        await h.dispatcher.join()

        assert len(model.requests) == 2
        assert "thanks" in last_user_text(model.requests[1])
        assert len(dc.sent_messages(dm_id)) == 2


# ---------------------------------------------------------------------- policy


async def test_a_user_outside_the_allowlist_is_refused_politely(dc: FakeDiscord) -> None:
    model = ScriptedModel()
    policy = PlatformPolicy(allowed_users=frozenset({"42"}))
    async with running(dc, model, policy=policy):
        await dc.send_guild_message("let me in", mention_bot=True)
        dm = await dc.send_dm("let me in")
        (reply,) = await wait_replies(dc, dc.dm_channel().id, 1)

        assert reply["content"] == NOT_ALLOWED
        assert reply["message_reference"]["message_id"] == dm["id"]
        assert replies_in(dc, dc.text_channel.id) == [], "silent in servers"
        assert model.requests == []


async def test_an_exhausted_daily_budget_gives_the_notice(dc: FakeDiscord) -> None:
    model = ScriptedModel(default=say("Hello again."))
    async with running(dc, model, agent=AgentSettings(daily_token_budget=50)):
        dm_id = dc.dm_channel().id
        await dc.send_dm("first message of the day")
        await wait_replies(dc, dm_id, 1)
        await dc.send_dm("one more thing")
        second = (await wait_replies(dc, dm_id, 2))[1]

        assert second["content"] == BUDGET_NOTICE
        assert len(model.requests) == 1


# ---------------------------------------------------------------------- connection


async def test_a_dropped_gateway_reconnects_and_nothing_is_lost(dc: FakeDiscord) -> None:
    model = ScriptedModel([say("one"), say("two"), say("three")])
    async with running(dc, model) as (_, adapter):
        dm_id = dc.dm_channel().id
        await dc.send_dm("before")
        await wait_replies(dc, dm_id, 1)

        await dc.drop_gateway(None)  # TCP abort: the client sees 1006
        await dc.send_dm("while away")  # kept by the session, replayed on RESUME
        await dc.wait_for(lambda: dc.resumes and dc.connected, timeout=10)
        await dc.wait_for(lambda: adapter.connected)
        await dc.send_dm("after")
        sent = await wait_replies(dc, dm_id, 3)

        assert [m["content"] for m in sent] == ["one", "two", "three"]
        assert len(dc.identifies) == 1


async def test_sharded_settings_use_the_requested_shards(dc: FakeDiscord) -> None:
    settings = discord_settings(dc, shard_count=1, shard_ids=["0"])
    async with running(dc, ScriptedModel([say("From shard 0.")]), settings=settings):
        assert dc.identifies[0]["shard"] == [0, 1]
        await dc.send_dm("hello shard")
        (reply,) = await wait_replies(dc, dc.dm_channel().id, 1)
        assert reply["content"] == "From shard 0."


async def test_without_the_message_content_intent_only_mentions_are_read(
    dc: FakeDiscord,
) -> None:
    settings = discord_settings(dc, message_content_intent=False)
    model = ScriptedModel(default=say("I heard you."))
    policy = PlatformPolicy(answer="always")
    async with running(dc, model, settings=settings, policy=policy) as (h, _):
        assert dc.intents is not None and not dc.intents & MESSAGE_CONTENT
        await dc.send_guild_message("a message the bot cannot read")
        await dc.send_guild_message("this one it can", mention_bot=True)
        await wait_replies(dc, dc.text_channel.id, 1)
        await h.dispatcher.join()

        assert len(model.requests) == 1
        assert "this one it can" in last_user_text(model.requests[0])


async def test_a_privileged_intent_the_app_may_not_use_is_a_configuration_error() -> None:
    async with FakeDiscord(allowed_intents=0) as dc:
        with dc.patch_discord_py():
            policy = PlatformPolicy()
            async with service(ScriptedModel(), policies={"discord": policy}) as h:
                adapter = DiscordAdapter(
                    discord_settings(dc), h.gateway, policy, guild_ready_timeout=0.05
                )
                with pytest.raises(ConfigurationError, match="Message Content"):
                    await adapter.start()
                await adapter.stop()  # safe after a failed start


def test_a_missing_token_or_bad_shards_fail_before_any_connection() -> None:
    no_token = DiscordSettings(_env_file=None, token=None)
    with pytest.raises(ConfigurationError, match="PAGEMIND_DISCORD_TOKEN"):
        DiscordAdapter(no_token, None, PlatformPolicy())  # type: ignore[arg-type]
    ids_only = DiscordSettings(_env_file=None, token=SecretStr("t"), shard_ids=["0"])
    with pytest.raises(ConfigurationError, match="SHARD_COUNT"):
        DiscordAdapter(ids_only, None, PlatformPolicy())  # type: ignore[arg-type]


# the other bot in the guild must never be answered, even when it mentions us
async def test_other_bots_are_ignored(dc: FakeDiscord) -> None:
    other = dc.add_user("otherbot")
    other.bot = True
    model = ScriptedModel(default=say("Hi human."))
    async with running(dc, model) as (h, _):
        await dc.send_guild_message("hey pagemind", mention_bot=True, author=other)
        await dc.send_dm("hello")
        await wait_replies(dc, dc.dm_channel().id, 1)
        await h.dispatcher.join()

        assert len(model.requests) == 1
        assert replies_in(dc, dc.text_channel.id) == []


async def test_text_that_is_not_valid_unicode_is_made_valid(dc: FakeDiscord) -> None:
    model = ScriptedModel([say("ok")])
    async with running(dc, model):
        await dc.send_dm("half an emoji \ud83d here")
        await wait_replies(dc, dc.dm_channel().id, 1)
        assert "half an emoji \ufffd here" in last_user_text(model.requests[0])
