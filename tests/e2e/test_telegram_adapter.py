"""The Telegram adapter end to end: the real python-telegram-bot talks to the Bot API fake over
127.0.0.1, in front of the real gateway, dispatcher and runtime with a scripted model (a test
double at the LLM port). Nothing of PTB's or ours is patched; waits go through the fake's
``wait_for``, never through sleeps.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import traceback
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.inmemory import InMemoryInbox
from adapters.telegram_chat import TelegramAdapter
from core.errors import ConfigurationError, StorageUnavailableError
from core.events import Address, Event, SendReply
from core.inbound.commands import COMMANDS, HELP, confirmation_code
from core.inbound.gateway import NOT_ALLOWED
from core.inbound.messages import Attachment, PlatformPolicy
from core.notices import NOT_RECORDED
from core.turn.settings import AgentSettings
from tests.support.fakes.telegram import (
    Call,
    FakeTelegram,
    make_user,
)
from tests.support.scripted import (
    GatedModel,
    ScriptedModel,
    call,
    learns_tea_and_passport,
    say,
)
from tests.support.service import service
from tests.support.telegram_rig import (
    DM,
    GROUP,
    JSON,
    STOP_NEVER_WAITS,
    TOKEN,
    ExplodingIntake,
    RecordingIntake,
    Rig,
    answer_to,
    answers,
    free_port,
    running,
    settings_for,
    typing_loops,
)

# ---------------------------------------------------------------------- tests


async def test_start_publishes_the_menu_and_stop_is_fast_and_complete() -> None:
    model = GatedModel(default=say("too late"))
    async with running(model, poll_timeout=STOP_NEVER_WAITS * 10) as rig:
        tg = rig.tg
        assert rig.adapter.bot_username == "pagemind_bot"
        assert [c["command"] for c in tg.commands()] == list(COMMANDS)
        tg.push_private_message("take your time")
        await tg.wait_for("sendChatAction")  # a turn is running, typing is on
        await tg.wait_until_polling()  # and a long poll is open, for ten times the net below

        try:
            async with asyncio.timeout(STOP_NEVER_WAITS):
                await rig.adapter.stop()
        except TimeoutError:
            pytest.fail("stop waited for the open long poll instead of cancelling it")
        leftovers = [t for t in asyncio.all_tasks() if t.get_name().startswith("telegram-")]
        assert leftovers == [], "typing loops and answers end with the adapter"
        assert not rig.adapter.running

        model.gate.set()  # the turn finishes after the stop: its reply is dropped, not sent
        await rig.service.dispatcher.join()
        assert tg.calls_to("sendMessage") == []


async def test_dm_is_answered_in_reply_and_an_edit_is_read_again() -> None:
    model = ScriptedModel([say("Hello Ana!"), say("Six it is.")])
    async with running(model) as rig:
        tg = rig.tg
        update = tg.push_private_message("hi, meet at 5?")
        sent = await answer_to(tg, update)
        assert sent.params["text"] == "Hello Ana!"
        assert sent.params["reply_parameters"] == {
            "message_id": update["message"]["message_id"],
            "allow_sending_without_reply": True,
        }
        assert "parse_mode" not in sent.params, "plain text: the agent's words are never markup"
        assert model.requests[0].messages[-1].content.endswith("hi, meet at 5?")

        edited = tg.push_edited_message(update, "hi, meet at 6?")
        await tg.wait_for(lambda _: len(tg.sent_messages(DM)) == 2)
        assert model.requests[1].messages[-1].content.endswith("(edited) hi, meet at 6?")
        assert [c.params["text"] for c in answers(tg, edited)] == ["Hello Ana!", "Six it is."]


async def test_group_answers_mentions_and_replies_but_not_chatter() -> None:
    model = ScriptedModel([say("You called?"), say("You're welcome.")])
    async with running(model) as rig:
        tg = rig.tg
        chatter = tg.push_group_message("lunch anyone?")
        other = tg.push_group_message("@someone_else are you coming?")
        mention = tg.push_group_message("what's the plan?", mention_bot=True)
        first = await answer_to(tg, mention)
        assert first.params["chat_id"] == GROUP and first.params["text"] == "You called?"

        bot_message = first.result["message_id"]
        thanks = tg.push_group_message("thanks!", reply_to=bot_message)
        second = await answer_to(tg, thanks)
        assert second.params["text"] == "You're welcome."
        assert len(model.requests) == 2, "chatter and other people's mentions cost no model call"
        assert answers(tg, chatter) == answers(tg, other) == []


async def test_long_reply_is_split_on_paragraph_boundaries() -> None:
    paragraphs = [f"Paragraph {i}. " + "All work and no play. " * 14 for i in range(30)]
    long_text = "\n\n".join(p.strip() for p in paragraphs)
    assert len(long_text) > 2 * 4096
    model = ScriptedModel([say(long_text)])
    async with running(model) as rig:
        tg = rig.tg
        update = tg.push_private_message("tell me everything")
        await tg.wait_for(lambda _: len(tg.sent_messages(DM)) >= 3)
        await rig.service.dispatcher.join()
        calls = [c for c in tg.calls_to("sendMessage") if c.ok]
        pieces = [c.params["text"] for c in calls]
        assert len(pieces) == 3 and all(len(p) <= 4096 for p in pieces)
        assert "\n\n".join(pieces) == long_text, "nothing lost, cut only between paragraphs"
        assert (
            calls[0].params["reply_parameters"]["message_id"] == (update["message"]["message_id"])
        )
        assert all("reply_parameters" not in c.params for c in calls[1:])


async def test_replies_are_sent_once_per_key_and_bad_addresses_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running(ScriptedModel(default=say("hi"))) as rig:
        tg = rig.tg
        await answer_to(tg, tg.push_private_message("hello"))  # the chat exists now
        reply = SendReply(
            agent_key="telegram:user:1001",
            event_id="telegram:replayed",
            idempotency_key="telegram:replayed:0",
            text="A reminder, once.",
            address=Address(platform="telegram", channel_id=str(DM), is_direct=True),
        )
        await rig.adapter.send(reply)
        await rig.adapter.send(reply)  # a replayed outbox: not sent twice by this process
        assert [m["text"] for m in tg.sent_messages(DM)] == ["hi", "A reminder, once."]

        nowhere = reply.model_copy(
            update={"address": Address(platform="telegram", channel_id="general")}
        )
        await rig.adapter.send(nowhere)  # logged, never raised into the core
        assert "reply dropped" in caplog.text


async def test_typing_shows_while_the_turn_runs_and_stops_after() -> None:
    model = GatedModel(default=say("Done thinking."))
    # Rounds far apart next to the moment between the answer and the end of its turn.
    async with running(model, typing_interval=0.3) as rig:
        tg = rig.tg
        update = tg.push_private_message("think hard")
        await tg.wait_for(lambda _: len(tg.chat_actions) >= 3)  # repeated while it runs
        assert tg.calls_to("sendMessage") == []
        assert all(a == {"chat_id": DM, "action": "typing"} for a in tg.chat_actions)

        model.gate.set()
        sent = await answer_to(tg, update)
        await rig.service.dispatcher.join()
        # The chat's typing loop ends with the turn: once it has, nothing can show typing.
        if loops := typing_loops(DM):
            _, still = await asyncio.wait(loops, timeout=30)  # a safety net only
            assert not still, "the typing loop went on after the turn"
        after = [c for c in tg.calls_to("sendChatAction") if c.at > sent.at]
        assert len(after) <= 1, f"typing went on after the answer: {after}"  # one in flight


async def test_forum_topic_message_is_answered_in_its_topic() -> None:
    model = GatedModel(default=say("Answered in the topic."))
    async with running(model) as rig:
        tg = rig.tg
        update = tg.push_group_message("status of the release?", mention_bot=True, thread_id=77)
        action = await tg.wait_for("sendChatAction")
        assert action.params == {"chat_id": GROUP, "action": "typing", "message_thread_id": 77}
        model.gate.set()
        sent = await answer_to(tg, update)
        assert sent.params["message_thread_id"] == 77
        assert sent.result["message_thread_id"] == 77 and sent.result["is_topic_message"]

        # A plain message in the topic replies (for Telegram) to the topic's first message,
        # not to the bot: in mention mode it is not for the agent.
        tg.push_group_message("I'll check", thread_id=77)
        again = tg.push_group_message("and?", mention_bot=True, thread_id=77)
        await answer_to(tg, again)
        assert len(model.requests) == 2


async def test_attachments_are_downloaded_through_the_adapter() -> None:
    intake = RecordingIntake()
    model = ScriptedModel(default=say("Got it."))
    async with running(model, intake=intake) as rig:
        tg = rig.tg
        data = b"line one\nline two\n"
        update = tg.push_document(
            data, file_name="notes.txt", mime_type="text/plain", caption="please keep these"
        )
        document = update["message"]["document"]
        await answer_to(tg, update, text="Got it.")
        [(attachment, got)] = intake.received
        assert got == data and tg.downloads == ["documents/file_1.txt"]
        assert attachment == Attachment(
            filename="notes.txt", ref=document["file_id"], size=len(data), mime="text/plain"
        )
        assert model.requests[0].messages[-1].content.endswith("please keep these")
        status = tg.calls_to("sendMessage")[0]
        assert status.params["text"] == "Reading notes.txt…"
        assert [e["text"] for e in tg.edits] == ["Read notes.txt: 18 bytes"]
        assert [c.status for c in tg.calls_to("editMessageText")] == [200, 400]

        # A photo: Telegram sends several sizes; the largest one is taken.
        small = tg.add_file(b"tiny", kind="photos")
        large = tg.add_file(b"the full picture", kind="photos")

        def size(doc: JSON, side: int) -> JSON:
            keep = ("file_id", "file_unique_id", "file_size")
            return {**{k: doc[k] for k in keep}, "width": side, "height": side}

        chat = {"id": DM, "type": "private", "first_name": "Ana"}
        photo = tg.push_update(
            {
                "message": {
                    "message_id": 900,
                    "date": int(time.time()),
                    "chat": chat,
                    "from": make_user(),
                    "photo": [size(small, 90), size(large, 1280)],
                    "caption": "my cat",
                }
            }
        )
        await answer_to(tg, photo, text="Got it.")
        attachment, got = intake.received[1]
        assert got == b"the full picture" and attachment.ref == large["file_id"]
        assert attachment.filename.endswith(".jpg") and attachment.mime == "image/jpeg"


async def test_files_over_the_limits_get_a_clear_answer_without_download() -> None:
    intake = RecordingIntake(max_bytes=20 * 2**20)
    async with running(ScriptedModel(), intake=intake) as rig:
        tg = rig.tg
        huge = tg.push_document(b"x", file_name="huge.pdf", file_size=25 * 2**20)
        notice = (await answer_to(tg, huge)).params["text"]
        assert "huge.pdf" in notice and "25 MB" in notice and "up to 20 MB" in notice
        assert tg.calls_to("getFile") == [], "the size is checked before anything is fetched"

        intake.max_bytes = 100 * 2**20  # we would take it, but the Bot API won't hand it out
        big = tg.push_document(b"x", file_name="big.pdf", file_size=21 * 2**20)
        notice = (await answer_to(tg, big)).params["text"]
        assert "Telegram lets bots download files only up to 20 MB" in notice
        assert [c.status for c in tg.calls_to("getFile")] == [400]
        assert tg.downloads == [] and intake.received == []
        assert rig.model.requests == []


async def test_every_command() -> None:
    model = learns_tea_and_passport("Ana")
    async with running(model) as rig:
        tg = rig.tg
        await answer_to(tg, tg.push_private_message("I like green tea"))
        await rig.service.dispatcher.join()

        async def ask(name: str, args: str = "", method: str = "sendMessage") -> Call:
            return await answer_to(tg, tg.push_command(name, args), method)

        assert (await ask("help")).params["text"] == HELP
        assert "Likes green tea" in (await ask("memory")).params["text"]
        assert "passport number ends 123" in (await ask("search", "passport")).params["text"]

        export = await ask("export", method="sendDocument")
        upload = export.files["document"]
        assert upload.filename is not None and upload.filename.endswith(".json")
        exported = json.loads(upload.data)
        assert "Likes green tea" in json.dumps(exported) and "passport" in json.dumps(exported)
        assert export.params["caption"].startswith("Everything I remember of you")

        ask_erase = (await ask("erase")).params["text"]
        code = re.search(r"/erase (\w{6})", ask_erase)
        assert code is not None
        assert code.group(1) == confirmation_code("telegram:user:1001", datetime.now(UTC))
        assert "nothing was erased" in (await ask("erase", "WRONG1")).params["text"]
        assert (await ask("erase", code.group(1))).params["text"].startswith("Done")
        assert await rig.service.agents.load("telegram:user:1001") is None

        # In groups: /command@this_bot is ours, /command@another_bot is not.
        tg.push_group_message("/memory@other_bot")
        ours = tg.push_command("memory", chat_id=GROUP, mention_bot=True)
        assert "haven't talked" in (await answer_to(tg, ours)).params["text"]
        assert len([c for c in tg.calls_to("sendMessage") if c.params["chat_id"] == GROUP]) == 1


async def test_a_429_is_waited_out_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="telegram.ext")
    async with running(ScriptedModel([say("Sorry for the wait.")])) as rig:
        tg = rig.tg
        tg.fail_next("sendMessage", error_code=429, retry_after=1)
        update = tg.push_private_message("hello?")
        await answer_to(tg, update)
        first, second = tg.calls_to("sendMessage")
        assert (first.status, second.status) == (429, 200)
        assert len(tg.sent_messages(DM)) == 1
    # PTB's rate limiter waits what Telegram asked for (plus 0.1 s) before the second try.
    waits = [r.args for r in caplog.records if r.msg == "Rate limit hit. Retrying after %f seconds"]
    assert waits == [(1.1,)], "Telegram's retry_after is honoured"


async def test_transient_failures_are_retried_and_refusals_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = ScriptedModel([say("Made it."), say("Lost."), say("Back.")])
    async with running(model) as rig:
        tg = rig.tg
        tg.fail_next("sendMessage", error_code=502)
        tg.drop_next("sendMessage")
        first = tg.push_private_message("one")
        await answer_to(tg, first)
        assert [c.status for c in tg.calls_to("sendMessage")] == [502, 0, 200]

        tg.fail_next("sendMessage", error_code=403)  # "bot was blocked by the user"
        tg.push_private_message("two")
        third = tg.push_private_message("three")
        assert (await answer_to(tg, third)).params["text"] == "Back."
        assert [c.status for c in tg.calls_to("sendMessage")][-2:] == [403, 200]
        refusals = [r for r in caplog.records if "refused a message" in r.getMessage()]
        assert len(refusals) == 1 and refusals[0].levelno == logging.WARNING
        assert "blocked" in refusals[0].getMessage()
        assert refusals[0].__dict__["agent_key"] == "telegram:user:1001"
        assert "could not deliver a reply" not in caplog.text, "nothing PTB's reached the core"


async def test_a_redelivered_update_is_processed_once_even_after_a_restart() -> None:
    model = ScriptedModel(default=say("Once."))
    async with running(model) as rig:
        tg = rig.tg
        update = tg.push_private_message("hello")
        await answer_to(tg, update)
        tg.redeliver(update)
        later = tg.push_private_message("/help")  # handled after the redelivered update
        await answer_to(tg, later)
        assert len(model.requests) == 1 and len(answers(tg, update)) == 1

        await rig.adapter.stop()  # a new process remembers no update ids: the inbox does
        adapter = rig.new_adapter()
        await adapter.start()
        try:
            tg.redeliver(update)
            after_restart = tg.push_private_message("/help")
            await answer_to(tg, after_restart)
            await rig.service.dispatcher.join()
            assert len(model.requests) == 1 and len(answers(tg, update)) == 1
        finally:
            await adapter.stop()


async def test_user_outside_the_allowlist_is_refused_politely() -> None:
    policy = PlatformPolicy(allowed_users=frozenset({"42"}))
    model = ScriptedModel()
    async with running(model, policy=policy) as rig:
        update = rig.tg.push_private_message("let me in")
        assert (await answer_to(rig.tg, update)).params["text"] == NOT_ALLOWED
        assert model.requests == []


async def test_exhausted_daily_budget_sends_the_notice_instead_of_calling_the_model() -> None:
    model = ScriptedModel(default=say("An answer."))
    budget = AgentSettings(daily_token_budget=100)  # one scripted call reports 110 tokens
    async with running(model, agent_settings=budget) as rig:
        tg = rig.tg
        assert (await answer_to(tg, tg.push_private_message("one"))).params["text"] == (
            "An answer."
        )
        notice = (await answer_to(tg, tg.push_private_message("two"))).params["text"]
        assert "reached my conversation limit for today" in notice
        assert len(model.requests) == 1


async def test_a_crashing_handler_is_logged_and_the_bot_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = ScriptedModel(default=say("Still here."))
    async with running(model, intake=ExplodingIntake()) as rig:
        tg = rig.tg
        boom = tg.push_document(b"x", file_name="boom.txt", caption="read this")
        assert (await answer_to(tg, boom)).params["text"] == NOT_RECORDED
        after = tg.push_private_message("are you there?")
        assert (await answer_to(tg, after)).params["text"] == "Still here."
        [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert record.__dict__["event_id"] == f"telegram:{boom['update_id']}"
        assert record.exc_info is not None and "intake exploded" in str(record.exc_info[1])


async def test_webhook_mode_takes_updates_with_the_right_secret_only() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/updates"
    secret = "s3cret-Token_1"
    model = ScriptedModel(default=say("Via webhook."))
    async with running(
        model,
        mode="webhook",
        webhook_url=url,
        webhook_listen="127.0.0.1",
        webhook_port=port,
        webhook_secret=secret,
    ) as rig:
        tg = rig.tg
        assert tg.webhook is not None
        assert tg.webhook["url"] == url and tg.webhook["secret_token"] == secret
        assert set(tg.webhook["allowed_updates"]) == {"message", "edited_message"}

        forged = tg.push_private_message("forged")
        assert await tg.post_update_to_webhook(url, forged, secret_token="wrong") == 403
        assert await tg.post_update_to_webhook(url, forged) == 403
        real = tg.push_private_message("real")
        assert await tg.post_update_to_webhook(url, real, secret_token=secret) == 200
        assert (await answer_to(tg, real)).params["text"] == "Via webhook."
        assert len(model.requests) == 1 and answers(tg, forged) == []
        assert tg.calls_to("getUpdates") == []


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


async def test_a_webhook_update_that_cannot_be_recorded_is_not_acknowledged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """200 means "recorded": when recording fails Telegram gets a 500 (one warning line),
    delivers the update again, and it is answered once."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/updates"
    secret = "s3cret-Token_1"
    model = ScriptedModel(default=say("Recorded this time."))
    async with running(
        model,
        inbox=DownOnceInbox(),
        mode="webhook",
        webhook_url=url,
        webhook_listen="127.0.0.1",
        webhook_port=port,
        webhook_secret=secret,
    ) as rig:
        update = rig.tg.push_private_message("are you there?")
        assert await rig.tg.post_update_to_webhook(url, update, secret_token=secret) == 500
        assert await rig.tg.post_update_to_webhook(url, update, secret_token=secret) == 200
        reply = await answer_to(rig.tg, update)
        assert reply.params["text"] == "Recorded this time."
        assert len(model.requests) == 1 and len(answers(rig.tg, update)) == 1
    warned = [r for r in caplog.records if "Telegram will deliver it again" in r.getMessage()]
    assert len(warned) == 1 and warned[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_configuration_problems_are_reported_clearly_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = PlatformPolicy()
    async with FakeTelegram() as tg, service(ScriptedModel(), policies={"telegram": policy}) as h:
        with pytest.raises(ConfigurationError, match="PAGEMIND_TELEGRAM_TOKEN"):
            TelegramAdapter(settings_for(tg, token=None), h.gateway, policy)
        unsigned = settings_for(tg, mode="webhook", webhook_url="https://bot.example.org/tg")
        with pytest.raises(ConfigurationError, match="PAGEMIND_TELEGRAM_WEBHOOK_SECRET"):
            TelegramAdapter(unsigned, h.gateway, policy)

        tg.fail_next("getMe", error_code=401)
        adapter = TelegramAdapter(settings_for(tg), h.gateway, policy)
        with pytest.raises(ConfigurationError, match="rejected the bot token") as caught:
            await adapter.start()
        assert TOKEN not in "".join(traceback.format_exception(caught.value))
        assert not adapter.running

        # Answering every group message needs privacy mode off; the operator is told.
        chatty = PlatformPolicy(answer="always")
        adapter = TelegramAdapter(settings_for(tg), h.gateway, chatty)
        await adapter.start()
        await adapter.stop()
        assert "privacy mode is on" in caplog.text
        assert TOKEN not in caplog.text


# ---------------------------------------------------------------------- check-ins


async def fire_checkins(rig: Rig, minutes: float) -> int:
    """Move the check-in clock on and fire what is due, as the service's waker would."""
    scheduler, clock = rig.service.checkins, rig.service.checkin_clock
    assert scheduler is not None and clock is not None
    clock.advance(minutes=minutes)
    return await scheduler.fire_due()


def unprompted(tg: FakeTelegram, chat_id: int, text: str) -> Any:
    def sent(c: Call) -> bool:
        return (
            c.ok
            and c.method == "sendMessage"
            and c.params.get("chat_id") == chat_id
            and (c.params.get("text") == text)
        )

    return tg.wait_for(sent, timeout=5)


async def test_a_check_in_set_by_someone_who_only_used_commands_reaches_them() -> None:
    model = ScriptedModel([say("Reminder: test note")])
    async with running(model, checkins=True) as rig:
        tg = rig.tg
        clock = rig.service.checkin_clock
        assert clock is not None
        due = (clock.now() + timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M")
        update = tg.push_command("checkin", f"at {due} test note")
        answer = await answer_to(tg, update)
        assert answer.params["text"].startswith("Scheduled: ")

        assert await fire_checkins(rig, minutes=3) == 1
        sent = await unprompted(tg, DM, "Reminder: test note")
        assert "reply_parameters" not in sent.params, "an unprompted message quotes nothing"
        assert "test note" in model.requests[0].messages[-1].content


async def test_a_check_in_quotes_none_of_the_persons_messages() -> None:
    at = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M")
    model = ScriptedModel(
        [
            call("schedule_checkin", note="ask about the dentist", at=at, request_heartbeat=True),
            say("I'll check in."),
            say("How did the dentist go?"),
        ]
    )
    settings = AgentSettings(checkin_quiet_after_activity=0)
    async with running(model, checkins=True, agent_settings=settings) as rig:
        tg = rig.tg
        hi = tg.push_private_message("hi, dentist at 3")
        await answer_to(tg, hi, text="I'll check in.")
        assert await fire_checkins(rig, minutes=6) == 1
        sent = await unprompted(tg, DM, "How did the dentist go?")
        assert "reply_parameters" not in sent.params
        assert sent.params.get("reply_to_message_id") is None


async def test_text_and_file_names_that_are_not_valid_unicode_are_made_valid() -> None:
    intake = RecordingIntake()
    model = ScriptedModel(default=say("Got it."))
    async with running(model, intake=intake) as rig:
        tg = rig.tg
        text = tg.push_private_message("half an emoji \ud83d here")  # a lone surrogate escape
        await answer_to(tg, text, text="Got it.")
        assert model.requests[0].messages[-1].content.endswith("half an emoji \ufffd here")
        (stored,) = await rig.service.recall.range(f"telegram:user:{DM}", 0, 1)
        stored.content.encode("utf-8")  # what a database driver must be able to do

        upload = tg.push_document(b"notes", file_name="r\udce9sum\u00e9.txt", caption="keep")
        await answer_to(tg, upload, text="Got it.")
        [(attachment, _)] = intake.received
        assert attachment.filename == "r\ufffdsum\u00e9.txt"
