"""The Slack adapter end to end: the real slack-bolt and slack-sdk against the Slack fake over
127.0.0.1, with the whole service in process (in-memory stores, scripted model, real runtime,
dispatcher and gateway). Most tests run twice: over Socket Mode and over HTTP events.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.inmemory import InMemoryInbox
from adapters.slack_chat import SlackAdapter, SlackDeliveryError
from adapters.slack_chat.download import SlackDownloads
from config.platforms import SlackSettings
from core.errors import ConfigurationError, StorageUnavailableError, UploadError
from core.events import Address, Event, SendReply
from core.inbound.commands import confirmation_code
from core.inbound.messages import Attachment, PlatformPolicy
from core.turn.settings import AgentSettings
from tests.support.fakes.slack import FakeSlack
from tests.support.scripted import GatedModel, ScriptedModel, learns_tea_and_passport, say
from tests.support.service import service
from tests.support.slack_rig import (
    ALICE_AGENT,
    CHANNEL,
    DM,
    HOURGLASS,
    STOP_NEVER_WAITS,
    Mode,
    RecordingIntake,
    methods,
    running,
)


@pytest.fixture(params=["socket", "http"])
def mode(request: pytest.FixtureRequest) -> Mode:
    return request.param  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- conversations


async def test_a_direct_message_is_answered(mode: Mode) -> None:
    async with running(mode, ScriptedModel([say("Hello Alice!")])) as rig:
        await rig.deliver(rig.dm("hi there &amp; hello"))
        [reply] = await rig.slack.wait_for(lambda: rig.slack.posted(DM))
        await rig.settle()

        assert (reply.text, reply.thread_ts) == ("Hello Alice!", None), "DMs are not threaded"
        seen = rig.model.requests[0].messages[-1].content
        assert seen.endswith("alice: hi there & hello"), "named via users.info, unescaped"
        assert await rig.service.agents.load(ALICE_AGENT) is not None, "agent per team:user"
        assert rig.adapter.bot_user_id == rig.slack.bot_user_id


async def test_channel_mentions_are_answered_in_a_thread_and_chatter_is_ignored(
    mode: Mode,
) -> None:
    async with running(mode, ScriptedModel(default=say("At your service."))) as rig:
        slack = rig.slack
        await rig.deliver(slack.message_event("just chatting among ourselves"))
        mention = slack.message_event("what's up?", mention=True)
        await rig.deliver(mention)
        # Slack sends the same mention a second time as an app_mention event (new event_id).
        also = {k: v for k, v in mention.items() if k != "channel_type"} | {"type": "app_mention"}
        await rig.deliver(also)
        await rig.deliver({"type": "reaction_added", "user": slack.user_id, "reaction": "eyes"})
        await rig.deliver(slack.message_event("x", channel=CHANNEL) | {"subtype": "channel_join"})
        await rig.settle()

        [reply] = slack.posted(CHANNEL)
        assert reply.text == "At your service."
        assert reply.thread_ts == mention["ts"], "a top-level mention is answered in a thread"
        assert len(rig.model.requests) == 1, "the message and its app_mention: one turn"
        assert rig.model.requests[0].messages[-1].content.endswith("alice: what's up?")
        if mode == "socket":
            assert len(slack.acks) == len(slack.envelopes) == 5, "every event is acked"


async def test_thread_replies_land_in_their_thread(mode: Mode) -> None:
    async with running(mode, ScriptedModel(default=say("In the thread."))) as rig:
        slack = rig.slack
        parent = "1700000000.000100"
        await rig.deliver(slack.message_event("and you?", mention=True, thread_ts=parent))
        bots_thread = "1700000000.000200"
        reply_to_bot = slack.message_event("thanks!", thread_ts=bots_thread)
        reply_to_bot["parent_user_id"] = slack.bot_user_id
        await rig.deliver(reply_to_bot)
        await rig.deliver(slack.message_event("no mention here", thread_ts=parent))
        await rig.settle()

        answers = sorted((m.thread_ts or "", m.text) for m in slack.posted(CHANNEL))
        assert answers == [(parent, "In the thread."), (bots_thread, "In the thread.")]
        assert len(rig.model.requests) == 2, "a human's thread without a mention is ignored"


async def test_a_long_reply_is_split_on_paragraph_boundaries(mode: Mode) -> None:
    paragraphs = [f"Paragraph {i}: " + "lorem ipsum " * 60 for i in range(12)]
    long_text = "\n\n".join(p.strip() for p in paragraphs)
    assert len(long_text) > 8000
    async with running(mode, ScriptedModel([say(long_text)])) as rig:
        event = rig.slack.message_event("tell me everything", mention=True)
        await rig.deliver(event)
        await rig.settle()

        pieces = rig.slack.posted(CHANNEL)
        assert len(pieces) == 3
        assert all(len(p.text) <= 4000 for p in pieces)
        assert all(p.text.startswith("Paragraph") for p in pieces), "cut between paragraphs"
        assert "\n\n".join(p.text for p in pieces) == long_text
        assert {p.thread_ts for p in pieces} == {event["ts"]}


async def test_the_working_reaction_shows_while_the_agent_thinks(mode: Mode) -> None:
    model = GatedModel([say("Done thinking.")])
    async with running(mode, model) as rig:
        slack = rig.slack
        event = rig.dm("a hard question")
        await rig.deliver(event)
        shown = await slack.wait_for(lambda: slack.reactions)
        assert shown == [{"channel": DM, "timestamp": event["ts"], "name": HOURGLASS}]
        assert not slack.posted(DM)

        model.gate.set()
        await slack.wait_for(lambda: slack.posted(DM))
        await slack.wait_for(lambda: not slack.reactions)
        assert methods(slack, "reactions.add", "chat.postMessage", "reactions.remove") == [
            "reactions.add",
            "chat.postMessage",
            "reactions.remove",
        ]


async def test_stop_is_fast_and_takes_the_working_reaction_down(mode: Mode) -> None:
    model = GatedModel([say("never said")])
    # The turn never ends; a stop that waited for it would use the whole grace, ten times the
    # safety net below.
    async with running(mode, model, shutdown_grace=STOP_NEVER_WAITS * 10) as rig:
        await rig.deliver(rig.dm("think forever"))
        await rig.slack.wait_for(lambda: rig.slack.reactions)
        url = rig.adapter.events_url
        try:
            async with asyncio.timeout(STOP_NEVER_WAITS):
                await rig.adapter.stop()
        except TimeoutError:
            pytest.fail("stop waited for the turn under way")
        assert rig.slack.reactions == [], "no hourglass left behind"
        if mode == "socket":
            await rig.slack.wait_for(lambda: rig.slack.open_connections == 0)
        else:
            assert url is not None and rig.adapter.events_url is None
            with pytest.raises(aiohttp.ClientConnectionError):
                await rig.slack.post_event(url, rig.slack.event_callback(rig.dm("late")))


async def test_an_edit_reaches_the_agent_once_and_unfurls_do_not(mode: Mode) -> None:
    async with running(mode, ScriptedModel(default=say("ok"))) as rig:
        slack = rig.slack
        original = rig.dm("meet at 5")
        await rig.deliver(original)
        await rig.settle()
        edit = slack.message_changed_event(original["ts"], "meet at 6", old_text="meet at 5")
        edit |= {"channel": DM, "channel_type": "im"}
        await rig.deliver(edit)
        unfurl = slack.message_changed_event(original["ts"], "meet at 6", old_text="meet at 6")
        unfurl |= {"channel": DM, "channel_type": "im"}
        await rig.deliver(unfurl)
        await rig.settle()

        assert len(rig.model.requests) == 2
        assert rig.model.requests[-1].messages[-1].content.endswith("(edited) meet at 6")


# ------------------------------------------------------------------------------------ files


async def test_a_shared_file_is_downloaded_through_the_adapter(mode: Mode) -> None:
    intake = RecordingIntake(max_bytes=1000)
    async with running(mode, ScriptedModel(default=say("ok")), intake=intake) as rig:
        slack = rig.slack
        content = b"my notes\n" * 20
        slack.add_file("F0FILE0001", content, name="notes.txt")
        slack.add_file("F0FILE0002", b"x" * 2048, name="big.bin", mimetype="application/zip")
        await rig.deliver(rig.dm("", files=["F0FILE0001"]))
        await rig.deliver(rig.dm("", files=["F0FILE0002"]))
        await rig.settle()

        [(attachment, data)] = intake.received
        assert (attachment.filename, attachment.ref, data) == ("notes.txt", "F0FILE0001", content)
        assert slack.downloads == [("F0FILE0001", True)], "with the token; never the big one"
        texts = sorted(m.text for m in slack.posted(DM))
        assert texts == [
            "Got notes.txt (180 bytes).",
            "That file is too large (2 KB): I can read files up to 1000 bytes.",
        ]
        assert rig.model.requests == [], "a file without text is not a turn"


async def test_slacks_sign_in_page_is_not_taken_for_the_file() -> None:
    async with FakeSlack() as slack, aiohttp.ClientSession() as session:
        slack.add_file("F0FILE0003", b"%PDF-1.7 ...", name="a.pdf", mimetype="application/pdf")
        client = AsyncWebClient(slack.bot_token, base_url=slack.api_url)
        wrong = SlackDownloads(client, "xoxb-revoked", session, api_host="127.0.0.1")
        with pytest.raises(UploadError, match="sign in"):
            await wrong.download(Attachment("a.pdf", "F0FILE0003"), 10_000)
        right = SlackDownloads(client, slack.bot_token, session, api_host="127.0.0.1")
        assert await right.download(Attachment("a.pdf", "F0FILE0003"), 10_000) == b"%PDF-1.7 ..."
        with pytest.raises(UploadError, match="no longer on Slack"):
            await right.download(Attachment("gone.txt", "F0MISSING"), 10_000)
        # The token goes to Slack's file hosts only, never to an external file's URL.
        slack.on(
            "files.info",
            lambda args: {"file": {"id": "F1", "size": 3, "url_private": "https://evil.test/x"}},
        )
        with pytest.raises(UploadError):
            await right.download(Attachment("x", "F1"), 10_000)
        assert [d for d, _ in slack.downloads] == ["F0FILE0003", "F0FILE0003"]


SIGN_IN_PAGE = (
    "<!DOCTYPE html><html><head><title>Slack</title></head><body><h1>Sign in to Acme</h1>"
    "<p>Sign in with your email address, or continue with Google. Forgot your password? "
    "We will send you a magic link to sign in.</p></body></html>"
)


@pytest.mark.parametrize("page", [SIGN_IN_PAGE, "<html><body></body></html>"])
async def test_a_page_in_place_of_an_html_file_is_never_stored(page: str) -> None:
    """``page.html`` shared in a DM, but Slack answers with its sign-in page (200, HTML):
    the user is told so, and nothing reaches archival memory."""
    async with running("socket", ScriptedModel(default=say("ok"))) as rig:
        slack, h = rig.slack, rig.service
        intake = h.service.intakes  # the real upload pipeline, attached as in production
        real = b"<html><body><h1>Ferry timetable</h1><p>First boat 07:10.</p></body></html>"
        slack.add_file("F0PAGE0001", real, name="page.html", mimetype="text/html")
        slack.pages_instead["F0PAGE0001"] = page
        await rig.deliver(rig.dm("", files=["F0PAGE0001"]))
        await rig.settle()
        await intake.join()

        (status,) = slack.posted(DM)
        assert "asked me to sign in" in status.text, status.text
        assert "Stored" not in status.text and "no text" not in status.text
        agent = f"slack:user:{slack.team_id}:{slack.user_id}"
        assert await h.archival.count(agent) == 0
        (answer,) = await rig.command("search Sign in", channel=DM)
        assert "In what I keep:\nNo results found." in answer["text"]

        del slack.pages_instead["F0PAGE0001"]  # the real file is still stored as it should be
        await rig.deliver(rig.dm("", files=["F0PAGE0001"]))
        await rig.settle()
        await intake.join()
        assert slack.posted(DM)[-1].text == 'Stored "page.html": 1 passage.'
        assert await h.archival.count(agent) == 1


# --------------------------------------------------------------------------------- commands


async def test_every_command_through_the_slash_command(mode: Mode) -> None:
    async with running(mode, learns_tea_and_passport("Alice")) as rig:
        slack = rig.slack
        await rig.deliver(rig.dm("I like green tea"))
        await rig.settle()

        [help_] = await rig.command("help")
        assert "/pagemind memory: what I keep in mind about you" in help_["text"]
        assert "\n/memory" not in help_["text"]
        [unknown] = await rig.command("dance")
        assert unknown["text"].startswith("I don't know “dance”.\nHere is what I understand")
        [memory] = await rig.command("memory")
        assert "Likes green tea" in memory["text"]
        [found] = await rig.command("search passport")
        assert "passport number ends 123" in found["text"]

        [exported] = await rig.command("export")
        assert exported["text"].endswith("I've sent the file to our direct messages.")
        [upload] = slack.uploads
        assert upload.channel == DM, "the export goes to the DM, never to the channel"
        assert upload.filename.endswith(".json") and b"Likes green tea" in upload.content
        assert "Everything I remember of you" in slack.posted(DM)[-1].text
        slack.fail("files.completeUploadExternal", error="missing_scope")  # no files:write
        [refused] = await rig.command("export")
        assert refused["text"].endswith("(the app may lack the files:write permission).")
        assert len(slack.uploads) == 1

        [ask] = await rig.command("erase")
        code = confirmation_code(ALICE_AGENT, datetime.now(UTC))
        assert f"send /pagemind erase {code} within 5 minutes" in ask["text"]
        [wrong] = await rig.command("erase NOPE")
        assert "nothing was erased" in wrong["text"]
        assert await rig.service.agents.load(ALICE_AGENT) is not None
        [done] = await rig.command(f"erase {code}")
        assert done["text"].startswith("Done")
        assert await rig.service.agents.load(ALICE_AGENT) is None

        answers = [help_, unknown, memory, found, exported, refused, ask, wrong, done]
        assert {a["response_type"] for a in answers} == {"ephemeral"}
        assert not slack.posted(CHANNEL), "nothing was said in the channel"


async def test_text_commands_in_a_dm_and_privately_in_a_channel(mode: Mode) -> None:
    async with running(mode, learns_tea_and_passport("Alice")) as rig:
        slack = rig.slack
        await rig.deliver(rig.dm("I like green tea"))
        await rig.settle()
        await rig.deliver(rig.dm("!memory"))
        await rig.deliver(slack.message_event("/search passport", mention=True))
        await rig.deliver(rig.dm("!export"))
        await rig.settle()

        dm_texts = [m.text for m in slack.posted(DM)]
        assert dm_texts[0] == "Noted."
        assert any("Likes green tea" in t for t in dm_texts[1:])
        [private] = slack.ephemerals
        assert private["user"] == slack.user_id and "passport number ends 123" in private["text"]
        assert not slack.posted(CHANNEL)
        [upload] = slack.uploads
        assert upload.channel == DM
        assert len(rig.model.requests) == 3, "commands never reach the model"


# ------------------------------------------------------------------- reliability and policy


async def test_a_rate_limited_post_is_retried_after_retry_after(
    mode: Mode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="slack_sdk.web")
    async with running(mode, ScriptedModel([say("Patience pays.")])) as rig:
        slack = rig.slack
        slack.rate_limit("chat.postMessage", retry_after=1)
        await rig.deliver(rig.dm("hello?"))
        [reply] = await slack.wait_for(lambda: slack.posted(DM), timeout=5)
        first, second = slack.calls_to("chat.postMessage")
        assert (first.status, second.status) == (429, 200)
        assert reply.text == "Patience pays."
    # The 429 went to the SDK's rate-limit handler, which waits Retry-After before the retry.
    assert "A retry handler found: AsyncRateLimitErrorRetryHandler for POST" in caplog.text


async def test_a_redelivered_event_is_processed_once_even_on_another_replica(
    mode: Mode,
) -> None:
    async with running(mode, ScriptedModel(default=say("Only once."))) as rig:
        delivery = await rig.deliver(rig.dm("hello"))
        await rig.settle()
        await rig.redeliver(delivery)  # same process: dropped by the adapter
        replica = await rig.start_replica()  # Socket Mode: the fake now uses its connection
        await rig.redeliver(delivery, to=replica)  # another process: dropped by the inbox
        await rig.settle()

        assert len(rig.model.requests) == 1
        assert [m.text for m in rig.slack.posted(DM)] == ["Only once."]


class DownOnceInbox(InMemoryInbox):
    """An inbox whose database is away for the first write."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True

    async def put(self, event: Event) -> bool:
        if self.down:
            self.down = False
            raise StorageUnavailableError("MongoDB at mongodb://db is unreachable")
        return await super().put(event)


async def test_an_event_that_cannot_be_recorded_is_not_acknowledged_and_its_retry_is_taken(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """HTTP events: the ack means "recorded"; when recording fails Slack gets a 500 (one
    warning line, no traceback) and its retry of the same event is answered, once."""
    inbox = DownOnceInbox()
    async with running("http", ScriptedModel(default=say("Got it.")), inbox=inbox) as rig:
        payload = rig.slack.event_callback(rig.dm("are you there?"))
        failed = await rig.slack.post_event(rig.url(), payload)
        retried = await rig.slack.post_event(rig.url(), payload, retry_num=1)
        await rig.settle()

        assert (failed.status, retried.status) == (500, 200)
        assert [m.text for m in rig.slack.posted(DM)] == ["Got it."]
        assert len(rig.model.requests) == 1
    warned = [r for r in caplog.records if "could not record a Slack event" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelname == "WARNING" and warned[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_user_outside_the_allowlist_is_refused_politely_in_a_dm(mode: Mode) -> None:
    policy = PlatformPolicy(allowed_users=frozenset({"T0FAKE0001:U0SOMEONE"}))
    async with running(mode, ScriptedModel(default=say("x")), policy=policy) as rig:
        await rig.deliver(rig.dm("let me in"))
        await rig.deliver(rig.slack.message_event("me too", mention=True))
        [slash] = await rig.command("memory")
        await rig.settle()

        assert [m.text for m in rig.slack.posted(DM)] == ["Sorry, I'm not available to you here."]
        assert not rig.slack.posted(CHANNEL) and not rig.slack.ephemerals, "silent in channels"
        assert slash["text"] == "Sorry, I'm not available to you here."
        assert rig.model.requests == []


async def test_an_exhausted_daily_budget_gives_the_notice_instead_of_a_model_call(
    mode: Mode,
) -> None:
    model = ScriptedModel(default=say("answer"))
    settings = AgentSettings(daily_token_budget=150)  # each scripted call reports 110 tokens
    async with running(mode, model, settings=settings) as rig:
        for n, text in enumerate(("one", "two", "three"), start=1):
            await rig.deliver(rig.dm(text))
            await rig.slack.wait_for(lambda n=n: len(rig.slack.posted(DM)) == n)
            await rig.settle()

        texts = [m.text for m in rig.slack.posted(DM)]
        assert texts[:2] == ["answer", "answer"]
        assert "reached my conversation limit for today" in texts[2]
        assert len(model.requests) == 2


async def test_bad_or_stale_signatures_are_rejected() -> None:
    async with running("http", ScriptedModel(default=say("x"))) as rig:
        slack, url = rig.slack, rig.url()
        payload = slack.event_callback(rig.dm("forged"))
        bad = await slack.post_event(url, payload, bad_signature=True)
        stale = await slack.post_event(url, payload, stale=True)
        forged_command = await slack.post_command(
            url, slack.slash_command_payload("/pagemind", "export"), bad_signature=True
        )
        challenge = await slack.post_event(
            url, {"type": "url_verification", "token": "t", "challenge": "c-1"}
        )
        await rig.settle()

        assert (bad.status, stale.status, forged_command.status) == (401, 401, 401)
        assert challenge.json() == {"challenge": "c-1"}
        assert not slack.posted() and not slack.responses and rig.model.requests == []
        health = url.replace("/slack/events", "/healthz")
        async with aiohttp.ClientSession() as http, http.get(health) as response:
            assert (response.status, await response.text()) == (200, "ok")


# ----------------------------------------------------------------------- outbound, directly


async def test_delivery_failures_stay_at_the_edge(
    mode: Mode, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(mode, ScriptedModel(), max_retries=1) as rig:
        slack = rig.slack

        def reply(channel: str, thread: str | None = None) -> SendReply:
            address = Address(platform="slack", channel_id=channel, thread_id=thread)
            return SendReply(
                agent_key="a", event_id="e", idempotency_key="k", text="hi", address=address
            )

        with caplog.at_level(logging.WARNING, logger="adapters.slack_chat"):
            await rig.adapter.send(reply("C0GONE"))  # channel_not_found: logged, not raised
            slack.fail("chat.postMessage", error="not_in_channel")
            await rig.adapter.send(reply(CHANNEL))
        assert "channel_not_found" in caplog.text and "not_in_channel" in caplog.text

        slack.fail("chat.postMessage", status=503, error="service_unavailable")
        await rig.adapter.send(reply(CHANNEL, "1700000000.000001"))  # a 5xx is retried
        [posted] = slack.posted(CHANNEL)
        assert (posted.text, posted.thread_ts) == ("hi", "1700000000.000001")

        slack.rate_limit("chat.postMessage", times=2, retry_after=1)
        with pytest.raises(SlackDeliveryError) as caught:
            await rig.adapter.send(reply(CHANNEL))
        assert (caught.value.code, caught.value.permanent) == ("ratelimited", False)

        address = Address(platform="slack", channel_id=DM)
        ts = await rig.adapter.post_status(address, "Reading your file…")
        await rig.adapter.edit_status(address, ts, "Read 3 pages <done>")
        status = slack.posted(DM)[-1]
        assert (status.ts, status.text, status.history) == (
            ts,
            "Read 3 pages &lt;done&gt;",
            ["Reading your file…"],
        )


async def test_missing_or_rejected_credentials_fail_start_with_a_clear_message() -> None:
    async with FakeSlack() as slack, service(ScriptedModel(), policies={}) as h:

        def adapter(mode: Mode, **secrets: Any) -> SlackAdapter:
            fields = {
                "bot_token": slack.bot_token,
                "app_token": slack.app_token,
                "signing_secret": slack.signing_secret,
            } | secrets
            settings = SlackSettings(
                _env_file=None,  # type: ignore[call-arg]
                mode=mode,
                http_listen="127.0.0.1",
                http_port=0,
                api_base_url=slack.api_url,
                **fields,
            )
            return SlackAdapter(settings, h.gateway, PlatformPolicy())

        with pytest.raises(ConfigurationError, match="PAGEMIND_SLACK_BOT_TOKEN is not set"):
            adapter("socket", bot_token=None)
        with pytest.raises(ConfigurationError, match="rejected PAGEMIND_SLACK_BOT_TOKEN"):
            await adapter("socket", bot_token="xoxb-wrong").start()
        with pytest.raises(ConfigurationError, match="rejected PAGEMIND_SLACK_APP_TOKEN"):
            await adapter("socket", app_token="xapp-wrong").start()
        with pytest.raises(ConfigurationError, match="PAGEMIND_SLACK_SIGNING_SECRET is not set"):
            await adapter("http", signing_secret=None).start()
        assert slack.open_connections == 0


async def test_text_that_is_not_valid_unicode_is_made_valid(mode: Mode) -> None:
    async with running(mode, ScriptedModel([say("ok")])) as rig:
        await rig.deliver(rig.dm("half an emoji \ud83d here"))
        await rig.slack.wait_for(lambda: rig.slack.posted(DM))
        await rig.settle()
        assert rig.model.requests[0].messages[-1].content.endswith("half an emoji \ufffd here")
