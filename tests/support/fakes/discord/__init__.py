"""A protocol-level fake of Discord on 127.0.0.1: a TEST DOUBLE for driving the real discord.py.

One aiohttp server plays three parts:

* the REST API under ``/api/v10`` (what ``discord.http.Route.BASE`` points at),
* the Gateway websocket under ``/gateway`` (``DiscordWebSocket.DEFAULT_GATEWAY``), with sessions
  that can be RESUMEd (missed events are replayed) through ``/gateway-resume``,
* a tiny CDN under ``/attachments`` serving registered attachment bytes.

Tests push events (``send_dm``, ``send_guild_message``, ``send_slash_command``...), inject
failures (``fail_next``), drop the gateway (``drop_gateway``) and inspect what the client did
(``calls``, ``sent_messages``, ``typing_calls``, ``interaction_responses``), using
:meth:`FakeDiscord.wait_for` instead of sleeps. See ``NOTES.md`` in this package.

The package, by idea: ``rest`` (the REST, webhook and CDN handlers), ``gateway`` (the
websocket and its sessions), ``state`` (users, the guild, channels, messages, what was
recorded), ``payloads`` (Discord's objects), ``faults`` (scripted failures), ``responses``
(answers in Discord's shape) and ``fake`` (``FakeDiscord``, which puts them together).
"""

from tests.support.fakes.discord.fake import FakeDiscord
from tests.support.fakes.discord.payloads import (
    DIRECT_MESSAGES,
    DISCORD_EPOCH_MS,
    DM_CHANNEL,
    GUILD_MEMBERS,
    GUILD_MESSAGES,
    GUILD_PRESENCES,
    MESSAGE_CONTENT,
    PRIVILEGED_INTENTS,
    PUBLIC_THREAD,
    TEXT_CHANNEL,
    Json,
)
from tests.support.fakes.discord.rest import API_PREFIX
from tests.support.fakes.discord.state import FakeChannel, FakeGuild, FakeUser, RecordedCall

__all__ = [
    "API_PREFIX",
    "DIRECT_MESSAGES",
    "DISCORD_EPOCH_MS",
    "DM_CHANNEL",
    "GUILD_MEMBERS",
    "GUILD_MESSAGES",
    "GUILD_PRESENCES",
    "MESSAGE_CONTENT",
    "PRIVILEGED_INTENTS",
    "PUBLIC_THREAD",
    "TEXT_CHANNEL",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeUser",
    "Json",
    "RecordedCall",
]
