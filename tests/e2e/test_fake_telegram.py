"""The real python-telegram-bot (22.x) against the Telegram Bot API fake, over 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from telegram import ReplyParameters, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, Conflict, EndPointNotFound, Forbidden, NetworkError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.support.fakes.telegram import DEFAULT_GROUP_ID, DEFAULT_USER_ID, FakeTelegram

TOKEN = "123456:TEST-token"


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(bot_username="pagemind_bot") as fake:
        yield fake


def build_app(tg: FakeTelegram, *, rate_limiter: AIORateLimiter | None = None) -> Application:
    builder = ApplicationBuilder().token(TOKEN).base_url(tg.api_base).base_file_url(tg.file_base)
    if rate_limiter is not None:
        builder = builder.rate_limiter(rate_limiter)
    app = builder.build()
    errors: list[object] = []

    async def collect(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    app.add_error_handler(collect)
    app.bot_data["errors"] = errors
    return app


@asynccontextmanager
async def polling(app: Application) -> AsyncIterator[Application]:
    """Starts long polling; PTB 22 cancels the open poll on stop, so teardown is immediate."""
    async with app:
        await app.updater.start_polling(timeout=5, poll_interval=0)  # type: ignore[union-attr]
        await app.start()
        try:
            yield app
        finally:
            await app.updater.stop()  # type: ignore[union-attr]
            await app.stop()
    assert app.bot_data["errors"] == []


def collector(app: Application, *, flt: filters.BaseFilter = filters.ALL) -> asyncio.Queue[Update]:
    seen: asyncio.Queue[Update] = asyncio.Queue()

    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.put_nowait(update)

    app.add_handler(MessageHandler(flt, handle))
    return seen


async def next_update(seen: asyncio.Queue[Update]) -> Update:
    return await asyncio.wait_for(seen.get(), 5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_polling_dm_reply_with_typing(tg: FakeTelegram) -> None:
    app = build_app(tg)

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
        await context.bot.send_message(
            message.chat_id,
            f"echo: {message.text}",
            reply_parameters=ReplyParameters(message_id=message.message_id),
            parse_mode="HTML",
        )

    app.add_handler(MessageHandler(filters.TEXT, on_text))
    async with polling(app):
        update = tg.push_private_message("hello there")
        call = await tg.wait_for("sendMessage")

    incoming = update["message"]
    assert call.token == TOKEN and tg.tokens == {TOKEN}
    assert call.params["chat_id"] == DEFAULT_USER_ID
    assert call.params["reply_parameters"] == {"message_id": incoming["message_id"]}
    assert call.params["parse_mode"] == "HTML"
    assert tg.chat_actions == [{"chat_id": DEFAULT_USER_ID, "action": "typing"}]
    typing, sent = tg.calls_to("sendChatAction")[0], tg.calls_to("sendMessage")[0]
    assert typing.at <= sent.at
    [message] = tg.sent_messages(DEFAULT_USER_ID)
    assert message["text"] == "echo: hello there"
    assert message["from"]["username"] == "pagemind_bot"
    assert message["reply_to_message"]["message_id"] == incoming["message_id"]
    assert message["message_id"] > incoming["message_id"]
    # Bootstrap, long polls, and the final offset-acknowledging poll with timeout 0.
    methods = [c.method for c in tg.calls]
    assert methods[:3] == ["getMe", "deleteWebhook", "getUpdates"]
    polls = tg.calls_to("getUpdates")
    assert polls[0].params == {"offset": 0, "timeout": 5}
    final = [c for c in polls if c.params["timeout"] == 0]
    assert [c.params["offset"] for c in final] == [update["update_id"] + 1]
    # The long poll PTB abandoned on stop was ended by that final poll, as Telegram does.
    assert all(c.status in (200, 409) for c in polls)
    assert tg.pending_updates == []


async def test_document_download_and_the_20_mb_limit(tg: FakeTelegram) -> None:
    app = build_app(tg)
    payload = bytes(range(256)) * 40
    downloaded: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        document = update.effective_message.document  # type: ignore[union-attr]
        assert document is not None
        assert (document.file_name, document.mime_type) == ("report.pdf", "application/pdf")
        file = await context.bot.get_file(document.file_id)
        downloaded.set_result(bytes(await file.download_as_bytearray()))

    app.add_handler(MessageHandler(filters.Document.ALL, on_document))
    async with polling(app):
        tg.push_document(payload, file_name="report.pdf", mime_type="application/pdf")
        assert await asyncio.wait_for(downloaded, 5) == payload

        big = tg.add_file(b"tiny", file_name="huge.zip", file_size=21 * 1024 * 1024)
        with pytest.raises(BadRequest, match="too big"):
            await app.bot.get_file(big["file_id"])
    assert len(tg.downloads) == 1 and tg.downloads[0].startswith("documents/")


async def test_429_is_retried_by_the_rate_limiter(
    tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="telegram.ext")
    # PTB 22.2+ emits a PTBDeprecationWarning while *constructing* RetryAfter unless this opt-in
    # is set; with warnings as errors every 429 would otherwise blow up inside PTB.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    app = build_app(tg, rate_limiter=AIORateLimiter(max_retries=2))
    tg.push_private_message("so that the chat exists")
    tg.fail_next("sendMessage", error_code=429, retry_after=1)
    async with app:
        message = await app.bot.send_message(DEFAULT_USER_ID, "after a retry")
    first, second = tg.calls_to("sendMessage")
    assert first.status == 429 and first.error is not None
    assert first.error["parameters"] == {"retry_after": 1}
    assert second.ok and message.message_id == second.result["message_id"]
    # PTB's limiter read retry_after and waited that long (plus 0.1 s) before the retry.
    waits = [r.args for r in caplog.records if r.msg == "Rate limit hit. Retrying after %f seconds"]
    assert waits == [(1.1,)]


@pytest.mark.parametrize(
    ("code", "expected"), [(400, BadRequest), (403, Forbidden), (502, NetworkError)]
)
async def test_injected_errors_map_to_ptb_exceptions(
    tg: FakeTelegram, code: int, expected: type[Exception]
) -> None:
    tg.push_private_message("hi")
    tg.fail_next("sendMessage", error_code=code)
    async with build_app(tg) as app:
        with pytest.raises(expected):
            await app.bot.send_message(DEFAULT_USER_ID, "nope")
        await app.bot.send_message(DEFAULT_USER_ID, "fine now")
        with pytest.raises(BadRequest, match="Chat not found"):
            await app.bot.send_message(42, "who?")
        with pytest.raises(EndPointNotFound):
            await app.bot.do_api_request("sendCarrierPigeon", {"chat_id": DEFAULT_USER_ID})
    assert tg.calls_to("sendCarrierPigeon")[0].error == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method sendCarrierPigeon",
    }


async def test_redelivered_update_reaches_handlers_twice(tg: FakeTelegram) -> None:
    app = build_app(tg)
    seen = collector(app)
    async with polling(app):
        update = tg.push_private_message("once")
        first = await next_update(seen)
        later = tg.push_private_message("later")
        await next_update(seen)
        tg.redeliver(update)
        second = await next_update(seen)
    # PTB does not dedupe: the same update_id is handled again; the adapter must dedupe.
    assert first.update_id == second.update_id == update["update_id"]
    assert second.effective_message.text == "once"  # type: ignore[union-attr]
    # PTB sets its offset to "last update_id received + 1", so it moved *backwards* here.
    offsets = [c.params["offset"] for c in sorted(tg.calls_to("getUpdates"), key=lambda c: c.at)]
    assert offsets.index(update["update_id"] + 1) < offsets.index(later["update_id"] + 1)
    assert offsets[-1] == update["update_id"] + 1
    assert tg.pending_updates == []


async def test_webhook_mode_checks_the_secret_token(tg: FakeTelegram) -> None:
    app = build_app(tg)
    seen = collector(app)
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    async with app:
        await app.updater.start_webhook(  # type: ignore[union-attr]
            listen="127.0.0.1", port=port, url_path="telegram", secret_token="s3cret-Token_1"
        )
        await app.start()
        try:
            assert tg.webhook is not None
            assert tg.webhook["url"] == url
            assert tg.webhook["secret_token"] == "s3cret-Token_1"
            update = tg.push_private_message("via webhook")
            assert (
                await tg.post_update_to_webhook(url, update, secret_token="s3cret-Token_1") == 200
            )
            assert (await next_update(seen)).update_id == update["update_id"]
            assert tg.pending_updates == []

            other = tg.push_private_message("forged")
            assert await tg.post_update_to_webhook(url, other, secret_token="wrong") == 403
            assert await tg.post_update_to_webhook(url, other) == 403
            with pytest.raises(Conflict, match="webhook is active"):
                await app.bot.get_updates()
        finally:
            await app.updater.stop()  # type: ignore[union-attr]
            await app.stop()
    assert seen.empty()


async def test_group_mentions_are_well_formed_entities(tg: FakeTelegram) -> None:
    app = build_app(tg)
    everything = collector(app)
    mentions: asyncio.Queue[Update] = asyncio.Queue()

    async def on_mention(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        mentions.put_nowait(update)

    app.add_handler(MessageHandler(filters.Entity("mention"), on_mention), group=1)
    async with polling(app):
        tg.push_group_message("héllo 👋 what's new?", mention_bot=True)
        tg.push_group_message("just chatting 👋 @someone_else")
        tg.push_group_message("no mention at all")
        delivered = [await next_update(everything) for _ in range(3)]
        first, second = await next_update(mentions), await next_update(mentions)

    assert [u.effective_message.text for u in delivered] == [  # type: ignore[union-attr]
        "@pagemind_bot héllo 👋 what's new?",
        "just chatting 👋 @someone_else",
        "no mention at all",
    ]
    assert list(first.effective_message.parse_entities(["mention"]).values()) == [  # type: ignore[union-attr]
        "@pagemind_bot"
    ]
    # Offsets are UTF-16 code units: the emoji before the mention counts twice.
    assert list(second.effective_message.parse_entities(["mention"]).values()) == [  # type: ignore[union-attr]
        "@someone_else"
    ]
    assert first.effective_chat.type == "supergroup"  # type: ignore[union-attr]
    assert first.effective_chat.id == DEFAULT_GROUP_ID  # type: ignore[union-attr]
    assert mentions.empty()


async def test_commands_replies_and_forum_topics_in_groups(tg: FakeTelegram) -> None:
    app = build_app(tg)
    helped: asyncio.Queue[Update] = asyncio.Queue()

    async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        helped.put_nowait(update)
        message = update.effective_message
        assert message is not None
        await message.reply_text("help text", do_quote=True)

    app.add_handler(CommandHandler("help", on_help))
    others = collector(app, flt=~filters.COMMAND)
    async with polling(app):
        await app.bot.set_my_commands([("help", "Show help")])
        tg.push_command("help")  # DM
        tg.push_command("help", chat_id=DEFAULT_GROUP_ID, mention_bot=True, thread_id=7)
        tg.push_group_message("/help@other_bot", thread_id=7)  # addressed to another bot
        dm, group = await next_update(helped), await next_update(helped)
        bot_reply = await tg.wait_for(
            lambda c: c.ok and c.method == "sendMessage" and c.result["chat"]["id"] < 0
        )
        reply = tg.push_group_message(
            "thanks", reply_to=bot_reply.result["message_id"], thread_id=7
        )
        followup = await next_update(others)

    assert dm.effective_message.text == "/help"  # type: ignore[union-attr]
    assert group.effective_message.text == "/help@pagemind_bot"  # type: ignore[union-attr]
    assert group.effective_message.message_thread_id == 7  # type: ignore[union-attr]
    assert helped.empty()  # /help@other_bot did not trigger the handler
    assert bot_reply.params["message_thread_id"] == 7  # PTB's reply_text keeps the topic
    assert bot_reply.result["is_topic_message"] is True
    assert followup.update_id == reply["update_id"]
    replied_to = followup.effective_message.reply_to_message  # type: ignore[union-attr]
    assert replied_to is not None and replied_to.from_user is not None
    assert replied_to.from_user.id == tg.bot_user["id"]
    assert tg.commands() == [{"command": "help", "description": "Show help"}]


async def test_topic_messages_reply_to_the_topic_root(tg: FakeTelegram) -> None:
    update = tg.push_group_message("in a topic", thread_id=9)
    root = update["message"]["reply_to_message"]
    assert root["message_id"] == 9 and "forum_topic_created" in root
    assert update["message"]["chat"]["is_forum"] is True
    async with build_app(tg) as app:
        [received] = await app.bot.get_updates(timeout=0)
    message = received.effective_message
    assert message is not None and message.reply_to_message is not None
    assert message.reply_to_message.forum_topic_created is not None


async def test_edits_edited_messages_and_callbacks(tg: FakeTelegram) -> None:
    app = build_app(tg)
    edited = collector(app, flt=filters.UpdateType.EDITED_MESSAGE)
    answered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        answered.set_result(await query.answer("ok"))

    app.add_handler(CallbackQueryHandler(on_callback))
    async with polling(app):
        original = tg.push_private_message("tpyo")
        tg.push_edited_message(original, "typo")
        assert (await next_update(edited)).edited_message.text == "typo"  # type: ignore[union-attr]

        sent = await app.bot.send_message(DEFAULT_USER_ID, "thinking…")
        await sent.edit_text("done")
        with pytest.raises(BadRequest, match="not modified"):
            await sent.edit_text("done")
        tg.push_callback_query("btn:1", message=tg.sent_messages()[0])
        assert await asyncio.wait_for(answered, 5) is True

    assert tg.edits == [{"chat_id": DEFAULT_USER_ID, "message_id": sent.message_id, "text": "done"}]
    assert tg.message(DEFAULT_USER_ID, sent.message_id)["text"] == "done"  # type: ignore[index]
    assert tg.callback_answers[0]["text"] == "ok"


async def test_documents_upload_and_dropped_poll_recovers(tg: FakeTelegram) -> None:
    app = build_app(tg)
    seen = collector(app)
    tg.drop_next("getUpdates")
    async with polling(app):
        update = tg.push_private_message("after the drop")
        assert (await next_update(seen)).update_id == update["update_id"]
        sent = await app.bot.send_document(
            DEFAULT_USER_ID, b"col1,col2\n1,2\n", filename="data.csv", caption="your file"
        )
    dropped = tg.calls_to("getUpdates")[0]
    assert dropped.dropped and not dropped.ok
    assert sent.document is not None and sent.document.file_name == "data.csv"
    [call] = tg.calls_to("sendDocument")
    assert call.files["document"].filename == "data.csv"
    assert call.params == {"chat_id": DEFAULT_USER_ID, "caption": "your file"}
    assert tg.file_bytes(sent.document.file_id) == b"col1,col2\n1,2\n"


async def test_long_poll_waits_and_returns_promptly(tg: FakeTelegram) -> None:
    async with build_app(tg) as app:
        # A poll of ten minutes: only the pushed update can end it within the safety net.
        poll = asyncio.ensure_future(app.bot.get_updates(timeout=600, read_timeout=660))
        await tg.wait_until_polling()
        assert not poll.done()
        update = tg.push_private_message("wake up")
        [received] = await asyncio.wait_for(poll, 60)
        assert received.update_id == update["update_id"]
        # Not yet acknowledged: the same update comes back until an offset confirms it.
        [again] = await app.bot.get_updates(timeout=0)
        assert again.update_id == update["update_id"]
        assert await app.bot.get_updates(offset=update["update_id"] + 1, timeout=0) == ()


async def test_raw_json_form_and_query_requests(tg: FakeTelegram) -> None:
    """Other clients send JSON bodies or query strings; all three encodings are understood."""
    tg.push_private_message("hi")
    url = f"{tg.api_base}{TOKEN}"
    async with aiohttp.ClientSession() as http:
        body = {"chat_id": DEFAULT_USER_ID, "text": "123", "reply_parameters": {"message_id": 1}}
        async with http.post(f"{url}/sendMessage", json=body) as response:
            as_json = await response.json()
        form = {"chat_id": str(DEFAULT_USER_ID), "text": "true", "message_thread_id": "3"}
        async with http.post(f"{url}/sendmessage", data=form) as response:
            as_form = await response.json()
        async with http.get(f"{url}/getMe?unused=1") as response:
            me = await response.json()
        async with http.post(f"{url}/sendPhoto", data=form) as response:
            missing = (response.status, await response.json())
    assert as_json["result"]["text"] == "123" and as_json["result"]["reply_to_message"]
    assert as_form["result"]["text"] == "true"  # text is never JSON-decoded
    assert tg.calls_to("sendMessage")[1].params["message_thread_id"] == 3
    assert me["result"]["username"] == "pagemind_bot"
    assert missing == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found: method sendPhoto"},
    )
