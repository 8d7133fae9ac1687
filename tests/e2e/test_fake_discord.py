"""The REAL discord.py 2.7 driven against the protocol fake in tests/support/fakes/discord/.

Everything goes over real sockets on 127.0.0.1: REST, the gateway websocket and attachment
downloads. Nothing of discord.py is mocked; the fake only redirects ``Route.BASE`` and
``DiscordWebSocket.DEFAULT_GATEWAY`` for the duration of each test.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator

import aiohttp
import pytest

discord = pytest.importorskip("discord")
from discord import app_commands  # noqa: E402

from tests.support.fakes.discord import (  # noqa: E402
    MESSAGE_CONTENT,
    FakeDiscord,
)

_WEBHOOK_MESSAGE = "/webhooks/{application_id}/{token}/messages/{message_id}"


@pytest.fixture
async def dc() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        with fake.patch_discord_py():
            yield fake


class FastClient(discord.Client):
    """discord.Client minus the 5 s pause it takes before every non-initial IDENTIFY."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


def make_client(*, message_content: bool = True) -> discord.Client:
    intents = discord.Intents.default()
    intents.message_content = message_content
    return FastClient(
        intents=intents,
        guild_ready_timeout=0.05,
        chunk_guilds_at_startup=False,
        enable_debug_events=False,
    )


@contextlib.asynccontextmanager
async def running(dc: FakeDiscord, client: discord.Client) -> AsyncIterator[discord.Client]:
    """Log in, connect in the background, wait for READY; always close cleanly."""
    async with client:
        await client.login(dc.token)
        task = asyncio.create_task(client.connect(reconnect=True))
        try:
            await asyncio.wait_for(client.wait_until_ready(), 5)
            yield client
        finally:
            await client.close()
            await asyncio.wait_for(task, 5)


def collect_messages(client: discord.Client) -> list[discord.Message]:
    """Register an on_message that keeps what others sent (the bot's own echoes are skipped)."""
    inbox: list[discord.Message] = []

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author != client.user:
            inbox.append(message)

    return inbox


async def test_login_ready_dm_reply_with_reference_and_typing(dc: FakeDiscord) -> None:
    client = make_client()
    inbox: list[discord.Message] = []
    echoes: list[discord.Message] = []

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author == client.user:
            echoes.append(message)  # Discord (and the fake) echo the bot's own messages
            return
        inbox.append(message)
        async with message.channel.typing():
            await message.reply(f"echo: {message.content}")

    async with running(dc, client):
        assert client.user is not None and client.user.id == dc.bot.id
        assert client.application_id == dc.application_id
        assert [c.route for c in dc.calls[:2]] == ["/users/@me", "/oauth2/applications/@me"]
        assert dc.intents == client.intents.value
        guild = client.get_guild(dc.guild.id)
        assert guild is not None and guild.get_thread(dc.thread.id) is not None

        dm = await dc.send_dm("hello bot")
        dm_id = dc.dm_channel().id
        await dc.wait_for(lambda: dc.sent_messages(dm_id))

        assert isinstance(inbox[0].channel, discord.DMChannel)
        assert inbox[0].content == "hello bot"
        (reply,) = dc.sent_messages(dm_id)
        assert reply["content"] == "echo: hello bot"
        assert reply["message_reference"]["message_id"] == dm["id"]
        assert reply["referenced_message"]["id"] == dm["id"]
        assert dc.typing_calls == [dm_id]
        (post,) = dc.calls_to("POST", "/channels/{channel_id}/messages")
        assert str(post.json["message_reference"]["message_id"]) == dm["id"]  # an int on the wire
        await dc.wait_for(lambda: echoes)
        assert [m.id for m in echoes] == [int(reply["id"])]
        assert len(inbox) == 1


async def test_guild_attachment_download_and_mentions(dc: FakeDiscord) -> None:
    client = make_client()
    # handlers run as concurrent tasks, so key the results by content rather than by order
    received: dict[str, tuple[discord.Message, bool, list[bytes]]] = {}

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author == client.user:
            return
        assert client.user is not None
        blobs = [await a.read() for a in message.attachments]
        received[message.content] = (message, client.user.mentioned_in(message), blobs)

    async with running(dc, client):
        payload = b"%PDF-1.4 fake bytes \x00\xff"
        attachment = dc.add_attachment("notes.pdf", payload)
        await dc.send_guild_message("see attached", attachments=[attachment])
        await dc.send_guild_message("hey you", mention_bot=True)
        await dc.send_guild_message("in a thread", channel=dc.thread)
        await dc.wait_for(lambda: len(received) == 3)

        msg, mentioned, blobs = received["see attached"]
        assert msg.guild is not None and msg.guild.id == dc.guild.id
        assert isinstance(msg.channel, discord.TextChannel)
        assert not mentioned
        assert blobs == [payload]
        assert msg.attachments[0].filename == "notes.pdf"
        assert msg.attachments[0].size == len(payload)
        assert msg.attachments[0].content_type == "application/pdf"
        assert dc.calls_to("GET", "/attachments/{attachment_id}/{filename}")[0].status == 200

        msg, mentioned, _ = received[f"<@{dc.bot.id}> hey you"]
        assert mentioned and [m.id for m in msg.mentions] == [dc.bot.id]

        msg, mentioned, _ = received["in a thread"]
        assert isinstance(msg.channel, discord.Thread) and msg.channel.id == dc.thread.id
        assert msg.channel.parent_id == dc.text_channel.id and not mentioned


async def test_reply_to_bot_counts_as_mention_and_edits_redeliveries(dc: FakeDiscord) -> None:
    client = make_client()
    inbox = collect_messages(client)
    edits: list[tuple[str, str]] = []

    @client.event
    async def on_message_edit(before: discord.Message, after: discord.Message) -> None:
        edits.append((before.content, after.content))

    async with running(dc, client):
        channel = client.get_channel(dc.text_channel.id)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("I am the bot")
        bot_msg = dc.message(sent.id)
        reply = await dc.send_guild_message("replying", reply_to=bot_msg)
        silent = await dc.send_guild_message("quiet", reply_to=bot_msg, reply_ping=False)
        await dc.wait_for(lambda: len(inbox) == 2)
        assert client.user is not None
        assert client.user.mentioned_in(inbox[0])
        assert inbox[0].reference is not None
        assert inbox[0].reference.message_id == sent.id
        assert not client.user.mentioned_in(inbox[1])

        await dc.edit_message(reply, "replying (edited)")
        await dc.wait_for(lambda: edits)
        assert edits == [("replying", "replying (edited)")]

        await dc.redeliver(silent)
        await dc.wait_for(lambda: len(inbox) == 3)
        assert inbox[2].id == inbox[1].id


@pytest.mark.parametrize(("status", "delay"), [(429, 0.3), (500, 1.0)])
async def test_failed_send_is_retried(dc: FakeDiscord, status: int, delay: float) -> None:
    """429: discord.py waits the body's retry_after; 5xx: it waits 1 s (then 3 s, 5 s...)."""
    client = make_client()
    async with running(dc, client):
        channel = client.get_channel(dc.text_channel.id)
        assert isinstance(channel, discord.TextChannel)
        dc.fail_next("POST", "/channels/{channel_id}/messages", status=status, retry_after=delay)
        message = await channel.send("after a failure")

        attempts = dc.calls_to("POST", f"/channels/{dc.text_channel.id}/messages")
        assert [c.status for c in attempts] == [status, 200]
        assert attempts[1].timestamp - attempts[0].timestamp >= delay - 0.01
        assert [m["id"] for m in dc.sent_messages(dc.text_channel.id)] == [str(message.id)]


async def test_proactive_dm_file_upload_and_edit(dc: FakeDiscord) -> None:
    client = make_client()
    edits: list[str] = []

    @client.event
    async def on_message_edit(before: discord.Message, after: discord.Message) -> None:
        edits.append(after.content)

    async with running(dc, client):
        dm = await client.create_dm(discord.Object(id=dc.user.id))
        assert dm.id == dc.dm_channel().id
        fetched = await client.fetch_channel(dc.text_channel.id)
        assert isinstance(fetched, discord.TextChannel) and fetched.name == "general"

        sent = await dm.send(
            "here is your export", file=discord.File(io.BytesIO(b"a,b\n"), "x.csv")
        )
        (post,) = dc.calls_to("POST", f"/channels/{dm.id}/messages")
        assert post.files == ("x.csv",) and post.json["content"] == "here is your export"
        assert await sent.attachments[0].read() == b"a,b\n"

        edited = await sent.edit(content="here is your export (v2)")
        assert edited.edited_at is not None
        assert dc.sent_messages(dm.id)[0]["content"] == "here is your export (v2)"
        await dc.wait_for(lambda: edits)  # the MESSAGE_UPDATE echo of the bot's own edit
        assert edits == ["here is your export (v2)"]


async def test_slash_command_sync_dispatch_and_responses(dc: FakeDiscord) -> None:
    client = make_client()
    tree = app_commands.CommandTree(client)
    guild = discord.Object(id=dc.guild.id)
    seen: list[tuple[str, int, bool]] = []

    @tree.command(name="remember", description="Store a fact", guild=guild)
    @app_commands.describe(fact="what to remember")
    async def remember(
        interaction: discord.Interaction, fact: str, weight: int = 1, private: bool = False
    ) -> None:
        seen.append((fact, weight, private))
        await interaction.response.send_message(f"noted: {fact}", ephemeral=private)
        await interaction.followup.send("anything else?")
        await interaction.edit_original_response(content=f"noted! ({fact})")

    async with running(dc, client):
        synced = await tree.sync(guild=guild)
        assert [c.name for c in synced] == ["remember"]
        (put,) = dc.calls_to("PUT", "/applications/{application_id}/guilds/{guild_id}/commands")
        assert put.json[0]["name"] == "remember"
        assert [o["name"] for o in put.json[0]["options"]] == ["fact", "weight", "private"]

        interaction = await dc.send_slash_command(
            "remember", {"fact": "likes tea", "weight": 3, "private": True}
        )
        await dc.wait_for(lambda: dc.calls_to("PATCH", _WEBHOOK_MESSAGE))
        assert seen == [("likes tea", 3, True)]
        (response,) = dc.interaction_responses
        assert response["interaction_id"] == int(interaction["id"])
        assert response["type"] == 4
        assert response["data"]["content"] == "noted: likes tea"
        assert response["data"]["flags"] == 64
        assert [m["content"] for m in dc.followups] == ["anything else?"]
        original = dc.calls_to("PATCH", _WEBHOOK_MESSAGE)
        assert original[0].path.endswith("/messages/@original")
        assert original[0].json["content"] == "noted! (likes tea)"


async def test_global_command_in_a_dm_with_a_deferred_response(dc: FakeDiscord) -> None:
    client = make_client()
    tree = app_commands.CommandTree(client)

    @tree.command(name="ping", description="Are you there?")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.edit_original_response(content="pong")

    async with running(dc, client):
        await tree.sync()
        assert [c["name"] for c in dc.commands[None]] == ["ping"]
        await dc.send_slash_command("ping", channel=dc.dm_channel())
        await dc.wait_for(lambda: dc.calls_to("PATCH", _WEBHOOK_MESSAGE))
        assert [r["type"] for r in dc.interaction_responses] == [5]
        (patch,) = dc.calls_to("PATCH", _WEBHOOK_MESSAGE)
        assert patch.path.endswith("/messages/@original") and patch.json["content"] == "pong"
        original = dc.message(dc.interaction_responses[0]["message_id"])
        assert original["content"] == "pong" and not original["flags"] & 128  # no longer loading


@pytest.mark.parametrize("how", ["close-4000", "abort-1006", "op7-reconnect", "op9-invalid"])
async def test_reconnects_after_the_gateway_drops(dc: FakeDiscord, how: str) -> None:
    client = make_client()
    inbox = collect_messages(client)

    async with running(dc, client):
        await dc.send_guild_message("before")
        await dc.wait_for(lambda: len(inbox) == 1)
        if how == "close-4000":
            await dc.drop_gateway(4000)
            # dispatched while disconnected: queued and replayed on RESUME
            await dc.send_guild_message("during")
        elif how == "abort-1006":
            await dc.drop_gateway(None)
        elif how == "op7-reconnect":
            await dc.request_reconnect()
        else:
            await dc.invalidate_session()

        if how == "op9-invalid":
            await dc.wait_for(lambda: len(dc.identifies) == 2 and dc.connected)
            assert dc.resumes == []
        else:
            await dc.wait_for(lambda: dc.resumes and dc.connected, timeout=10)
            assert len(dc.identifies) == 1
            assert dc.gateway_urls[-1].startswith("/gateway-resume?")
        await dc.send_guild_message("after")
        expected = ["before", "during", "after"] if how == "close-4000" else ["before", "after"]
        await dc.wait_for(lambda: len(inbox) == len(expected))
        assert [m.content for m in inbox] == expected


async def test_enforce_nonce_returns_the_original_message(dc: FakeDiscord) -> None:
    client = make_client()
    async with running(dc, client):
        channel = client.get_channel(dc.text_channel.id)
        assert isinstance(channel, discord.TextChannel)
        first = await channel.send("only once", nonce="pagemind-turn-42")
        second = await channel.send("only once", nonce="pagemind-turn-42")
        third = await channel.send("only once", nonce="pagemind-turn-43")

        assert second.id == first.id
        assert third.id != first.id
        posts = dc.calls_to("POST", "/channels/{channel_id}/messages")
        assert [c.json["nonce"] for c in posts] == ["pagemind-turn-42"] * 2 + ["pagemind-turn-43"]
        assert all(c.json["enforce_nonce"] is True for c in posts)
        assert len(dc.sent_messages(dc.text_channel.id)) == 2


async def test_disallowed_privileged_intent_closes_with_4014() -> None:
    async with FakeDiscord(allowed_intents=0) as dc:
        with dc.patch_discord_py():
            client = make_client(message_content=True)
            async with client:
                await client.login(dc.token)
                with pytest.raises(discord.PrivilegedIntentsRequired):
                    await asyncio.wait_for(client.connect(), 5)
            assert dc.identifies == []
            assert client.application_flags.gateway_message_content is False


async def test_without_message_content_intent_guild_content_is_empty(dc: FakeDiscord) -> None:
    client = make_client(message_content=False)
    inbox = collect_messages(client)

    async with running(dc, client):
        assert dc.intents is not None and not dc.intents & MESSAGE_CONTENT
        await dc.send_guild_message("secret", attachments=[dc.add_attachment("a.txt", b"x")])
        await dc.send_guild_message("visible", mention_bot=True)
        await dc.send_dm("dm visible")
        await dc.wait_for(lambda: len(inbox) == 3)
        assert [(m.content, len(m.attachments)) for m in inbox] == [
            ("", 0),
            (f"<@{dc.bot.id}> visible", 0),
            ("dm visible", 0),
        ]


async def test_raw_http_contract(dc: FakeDiscord) -> None:
    headers = {"Authorization": f"Bot {dc.token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{dc.api_base}/users/@me", headers=headers) as resp:
            assert resp.headers["Content-Type"] == "application/json"
            assert (await resp.json())["id"] == str(dc.bot.id)
        async with http.get(f"{dc.api_base}/guilds/1/members", headers=headers) as resp:
            assert resp.status == 404
            assert await resp.json() == {"message": "404: Not Found", "code": 0}
        async with http.get(f"{dc.api_base}/users/@me") as resp:
            assert resp.status == 401
        dc.fail_next("GET", "/users/@me", status=500)
        async with http.get(f"{dc.api_base}/users/@me", headers=headers) as resp:
            assert resp.status == 500
        async with http.post(
            f"{dc.api_base}/channels/{dc.text_channel.id}/messages",
            headers=headers,
            json={"content": "x" * 2001},
        ) as resp:
            assert resp.status == 400
            assert (await resp.json())["code"] == 50035


async def test_patching_is_undone_on_exit() -> None:
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    before = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    async with FakeDiscord() as dc:
        with dc.patch_discord_py():
            assert Route.BASE == dc.api_base
            assert str(DiscordWebSocket.DEFAULT_GATEWAY) == dc.gateway_url
    assert (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY) == before
    assert Route.BASE.startswith("https://discord.com/")
