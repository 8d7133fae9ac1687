"""The real slack-bolt (AsyncApp) and slack-sdk against the Slack fake, over sockets on 127.0.0.1.

These tests pin down what the fake must do for the libraries, and what the libraries do with
it (acks, retries, reconnects), so the Slack adapter's end-to-end tests can rely on both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.support.fakes.slack import FakeSlack


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


def bolt_app(slack: FakeSlack, **kwargs: Any) -> AsyncApp:
    client = AsyncWebClient(slack.bot_token, base_url=slack.api_url)
    return AsyncApp(client=client, signing_secret=slack.signing_secret, **kwargs)


class SocketModeBot:
    """A bolt AsyncApp connected through AsyncSocketModeHandler (aiohttp client)."""

    def __init__(self, slack: FakeSlack, ping_interval: float = 10, **kwargs: Any) -> None:
        self.app = bolt_app(slack, **kwargs)
        self.handler = AsyncSocketModeHandler(
            self.app, slack.app_token, ping_interval=ping_interval
        )

    async def __aenter__(self) -> AsyncApp:
        await self.handler.connect_async()
        return self.app

    async def __aexit__(self, *exc: object) -> None:
        await self.handler.close_async()


class HttpBot:
    """A bolt AsyncApp mounted in our own aiohttp server, the way an adapter would mount it."""

    def __init__(self, slack: FakeSlack, **kwargs: Any) -> None:
        self.app = bolt_app(slack, **kwargs)
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        return await to_aiohttp_response(
            await self.app.async_dispatch(await to_bolt_request(request))
        )

    async def __aenter__(self) -> HttpBot:
        web_app = web.Application()
        web_app.router.add_post("/slack/events", self._handle)
        self._runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/slack/events"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


async def test_socket_mode_dm_is_acked_and_answered_in_thread(slack: FakeSlack) -> None:
    async with SocketModeBot(slack) as app:

        @app.message()
        async def echo(message: dict[str, Any], say: Any) -> None:
            await say(text=f"echo: {message['text']}", thread_ts=message["ts"])

        await slack.wait_for(lambda: slack.open_connections)
        envelope = await slack.push_dm("hello bot")
        ack = await slack.wait_for_ack(envelope)
        [reply] = await slack.wait_for(lambda: slack.posted("D0DM000001"))

    assert ack.payload is None
    assert envelope.event["channel_type"] == "im"
    assert reply.text == "echo: hello bot"
    assert reply.thread_ts == envelope.event["ts"]
    assert [c.method for c in slack.calls] == [
        "apps.connections.open",
        "auth.test",  # bolt authorizes lazily, on the first event
        "chat.postMessage",
    ]
    assert slack.calls_to("chat.postMessage")[0].args["thread_ts"] == envelope.event["ts"]


async def test_socket_mode_mentions_threads_and_edits_reach_their_listeners(
    slack: FakeSlack,
) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    async with SocketModeBot(slack) as app:

        @app.event("app_mention")
        async def mention(event: dict[str, Any]) -> None:
            seen.append(("app_mention", event))

        @app.event({"type": "message", "subtype": "message_changed"})
        async def edited(event: dict[str, Any]) -> None:
            seen.append(("edit", event))

        @app.message()
        async def message(message: dict[str, Any]) -> None:
            seen.append(("message", message))

        await slack.push_message("plain")
        await slack.push_message("hey you", mention=True)
        await slack.push_message("in thread", thread_ts="1700000000.000001")
        await slack.push_app_mention("hey you")
        await slack.push_edit("1700000000.000001", "fixed", old_text="fixd")
        await slack.wait_for(lambda: len(seen) == 5 and len(slack.acks) == 5)

    by_kind = {k: [e for kind, e in seen if kind == k] for k in ("message", "app_mention", "edit")}
    texts = sorted(e["text"] for e in by_kind["message"])
    assert texts == ["<@U0BOT00001> hey you", "in thread", "plain"]
    assert [e.get("thread_ts") for e in by_kind["message"] if e["text"] == "in thread"] == [
        "1700000000.000001"
    ]
    assert by_kind["app_mention"][0]["text"] == "<@U0BOT00001> hey you"
    assert by_kind["edit"][0]["message"]["text"] == "fixed"
    assert by_kind["edit"][0]["previous_message"]["text"] == "fixd"


async def test_http_events_are_verified_and_retries_are_delivered_again(slack: FakeSlack) -> None:
    handled: list[tuple[str, str | None]] = []
    async with HttpBot(slack) as bot:

        @bot.app.message()
        async def on_message(message: dict[str, Any], body: dict[str, Any], request: Any) -> None:
            retry = request.headers.get("x-slack-retry-num")
            handled.append((body["event_id"], retry[0] if isinstance(retry, list) else retry))

        payload = slack.event_callback(slack.message_event("over http"))
        first = await slack.post_event(bot.url, payload)
        assert (first.status, first.body) == (200, b"")
        await slack.wait_for(lambda: len(handled) == 1)

        # Bolt has no de-duplication: a retry of the same event_id runs the listener again.
        retry = await slack.post_event(bot.url, payload, retry_num=1)
        assert retry.status == 200
        await slack.wait_for(lambda: len(handled) == 2)
        assert handled == [(payload["event_id"], None), (payload["event_id"], "1")]

        bad = await slack.post_event(bot.url, payload, bad_signature=True)
        stale = await slack.post_event(bot.url, payload, stale=True)
        assert (bad.status, stale.status) == (401, 401)
        assert bad.json() == {"error": "invalid request"}

        # Bytes are signed exactly as given (here: unusual spacing); url_verification works.
        body = b'{ "type" :"url_verification",  "token": "t", "challenge": "c-42" }'
        challenge = await slack.post_event(bot.url, body)
        assert (challenge.status, challenge.json()) == (200, {"challenge": "c-42"})

    assert len(handled) == 2


async def test_a_shared_file_is_downloaded_with_the_bot_token(slack: FakeSlack) -> None:
    content = bytes(range(256)) * 4
    slack.add_file("F0FILE0001", content, name="data.bin", mimetype="application/octet-stream")
    downloaded: list[bytes] = []
    async with SocketModeBot(slack) as app:
        # Not app.message(): it skips messages whose text is empty, as a bare upload's is.
        @app.event("message")
        async def on_file(event: dict[str, Any], client: AsyncWebClient) -> None:
            for shared in event.get("files", []):
                info = await client.files_info(file=shared["id"])
                url = info["file"]["url_private_download"]
                headers = {"Authorization": f"Bearer {client.token}"}
                async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as r:
                    downloaded.append(await r.read())

        envelope = await slack.push_dm("", files=["F0FILE0001"])
        await slack.wait_for(lambda: downloaded)

    assert envelope.event["subtype"] == "file_share"
    assert downloaded == [content]
    assert slack.calls_to("files.info")[0].http_method == "GET"

    # Without the token Slack still answers 200, with a sign-in page instead of the bytes:
    # check the content type (and that it is not what files.info announced).
    url = slack.add_file("F0FILE0002", b"%PDF-1.7", name="a.pdf", mimetype="application/pdf")[
        "url_private"
    ]
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        page = await resp.read()
        assert resp.status == 200
        assert resp.content_type == "text/html"
    assert page.startswith(b"<!DOCTYPE html>")
    assert slack.downloads == [("F0FILE0001", True), ("F0FILE0002", False)]


async def test_a_file_only_message_skips_app_message_and_is_never_acked(
    slack: FakeSlack,
) -> None:
    slack.add_file("F0FILE0001", b"x")
    handled: list[str] = []
    async with SocketModeBot(slack) as app:

        @app.message()
        async def on_message(message: dict[str, Any]) -> None:
            handled.append(message["text"])

        silent = await slack.push_dm("", files=["F0FILE0001"])
        await slack.push_dm("with text", files=["F0FILE0001"])
        await slack.wait_for(lambda: handled == ["with text"])
        await slack.wait_for(lambda: len(slack.acks) == 1)
    # Bolt answers an unhandled event with 404, which in Socket Mode means: no ack at all,
    # so real Slack would redeliver it. Register a catch-all listener in the adapter.
    assert slack.acked(silent) is None


async def test_rate_limited_post_is_retried_after_retry_after(
    slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="slack_sdk.web")
    slack.rate_limit("chat.postMessage", retry_after=1)
    client = AsyncWebClient(
        slack.bot_token,
        base_url=slack.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    response = await client.chat_postMessage(channel="C0CHAN0001", text="patience")

    first, second = slack.calls_to("chat.postMessage")
    assert (first.status, first.error) == (429, "ratelimited")
    assert (second.status, second.error) == (200, None)
    # The 429 carried an integer Retry-After (the SDK's handler parses it with int() and
    # sleeps that long plus a random fraction of a second before retrying).
    assert first.retry_after == 1
    assert "A retry handler found: AsyncRateLimitErrorRetryHandler for POST" in caplog.text
    assert response["ts"] == slack.posted("C0CHAN0001")[0].ts


async def test_failures_without_a_retry_handler_surface_as_slack_api_errors(
    slack: FakeSlack,
) -> None:
    client = AsyncWebClient(slack.bot_token, base_url=slack.api_url)
    slack.rate_limit("chat.postMessage", retry_after=7)
    slack.fail("chat.postMessage", error="channel_not_found")
    slack.fail("chat.postMessage", status=500)
    errors = []
    for _ in range(3):
        with pytest.raises(SlackApiError) as caught:
            await client.chat_postMessage(channel="C0CHAN0001", text="x")
        errors.append(caught.value.response)
    assert [(r.status_code, r["error"]) for r in errors] == [
        (429, "ratelimited"),
        (200, "channel_not_found"),
        (500, "internal_error"),
    ]
    assert errors[0].headers["Retry-After"] == "7"
    assert (await client.chat_postMessage(channel="C0CHAN0001", text="x"))["ok"]

    with pytest.raises(SlackApiError, match="unknown_method"):
        await client.api_call("pins.add", params={"channel": "C0CHAN0001"})
    with pytest.raises(SlackApiError, match="not_authed"):
        await AsyncWebClient(base_url=slack.api_url).auth_test()
    with pytest.raises(SlackApiError, match="invalid_auth"):
        await AsyncWebClient("xoxb-wrong", base_url=slack.api_url).auth_test()
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        await AsyncWebClient(slack.app_token, base_url=slack.api_url).auth_test()
    # Like Slack, a form post may carry the token as a field instead of the header.
    anonymous = AsyncWebClient(base_url=slack.api_url)
    assert (await anonymous.api_call("auth.test", data={"token": slack.bot_token}))["ok"]


async def test_web_api_methods_the_adapter_uses(slack: FakeSlack) -> None:
    client = AsyncWebClient(slack.bot_token, base_url=slack.api_url)
    auth = await client.auth_test()
    assert (auth["user_id"], auth["team_id"], auth["bot_id"]) == (
        "U0BOT00001",
        "T0FAKE0001",
        "B0BOT00001",
    )
    im = await client.conversations_info(channel="D0DM000001")
    channel = await client.conversations_info(channel="C0CHAN0001")
    assert (im["channel"]["is_im"], channel["channel"]["is_im"]) == (True, False)
    assert (await client.users_info(user="U0USER0001"))["user"]["real_name"] == "Alice Example"

    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    posted = await client.chat_postMessage(channel="C0CHAN0001", text="hi", blocks=blocks)
    await client.chat_update(channel="C0CHAN0001", ts=posted["ts"], text="hi again")
    await client.chat_postEphemeral(channel="C0CHAN0001", user="U0USER0001", text="psst")
    await client.reactions_add(channel="C0CHAN0001", timestamp=posted["ts"], name="eyes")
    [message] = slack.posted("C0CHAN0001")
    assert (message.text, message.history, message.blocks) == ("hi again", ["hi"], blocks)
    assert slack.ephemerals[0]["text"] == "psst"
    assert slack.reactions == [{"channel": "C0CHAN0001", "timestamp": posted["ts"], "name": "eyes"}]
    with pytest.raises(SlackApiError, match="already_reacted"):
        await client.reactions_add(channel="C0CHAN0001", timestamp=posted["ts"], name="eyes")


async def test_slash_command_over_socket_mode_and_http(slack: FakeSlack) -> None:
    async def ask(ack: Any, command: dict[str, Any], respond: Any) -> None:
        await ack(f"thinking about {command['text']}")
        await respond(f"answer to {command['text']}")

    async with SocketModeBot(slack) as app:
        app.command("/ask")(ask)
        envelope = await slack.push_slash_command("/ask", "life")
        ack = await slack.wait_for_ack(envelope)
        await slack.wait_for(lambda: slack.responses)
    assert ack.payload == {"text": "thinking about life"}
    assert slack.responses[0]["text"] == "answer to life"

    async with HttpBot(slack) as bot:
        bot.app.command("/ask")(ask)
        result = await slack.post_command(bot.url, slack.slash_command_payload("/ask", "tea"))
        await slack.wait_for(lambda: len(slack.responses) == 2)
        refused = await slack.post_command(
            bot.url, slack.slash_command_payload("/ask", "x"), stale=True
        )
    # Over HTTP, ack("...") answers a text/plain body; Socket Mode wraps it as {"text": ...}.
    assert (result.status, result.text) == (200, "thinking about tea")
    assert result.headers["Content-Type"].startswith("text/plain")
    assert slack.responses[1]["text"] == "answer to tea"
    assert refused.status == 401


@pytest.mark.parametrize("how", ["close", "abrupt", "disconnect_message"])
async def test_socket_mode_reconnects_after_a_dropped_connection(
    slack: FakeSlack, how: str
) -> None:
    replies: list[str] = []
    async with SocketModeBot(slack, ping_interval=0.2) as app:

        @app.message()
        async def on_message(message: dict[str, Any]) -> None:
            replies.append(message["text"])

        await slack.push_dm("before")
        await slack.wait_for(lambda: replies == ["before"])
        if how == "disconnect_message":
            await slack.send_disconnect()
        else:
            await slack.drop_connections(abrupt=how == "abrupt")
        await slack.wait_for(lambda: slack.connections_opened == 2 and slack.open_connections)
        await slack.push_dm("after")
        await slack.wait_for(lambda: replies == ["before", "after"])

    assert len(slack.calls_to("apps.connections.open")) == 2


async def test_unacked_event_is_redelivered_with_the_same_event_id() -> None:
    gate = asyncio.Event()
    seen: list[tuple[str, Any]] = []
    async with FakeSlack(redeliver_after=0.3) as slack:
        # With process_before_response=True bolt acks only after the listener returns,
        # so a slow listener makes Slack (here: the fake) deliver the event again.
        async with SocketModeBot(slack, process_before_response=True) as app:

            @app.message()
            async def slow(body: dict[str, Any], request: Any) -> None:
                seen.append((body["event_id"], request.headers.get("x-slack-retry-num")))
                if len(seen) == 1:
                    await gate.wait()
                else:
                    gate.set()

            first = await slack.push_dm("slow one")
            await slack.wait_for(lambda: len(slack.acks) == 2)
            again = await slack.redeliver(first, reason="on_demand")
            await slack.wait_for_ack(again)
            assert (again.retry_attempt, again.retry_reason) == (2, "on_demand")

    first_retry = slack.envelopes[1]
    assert (first_retry.retry_attempt, first_retry.retry_reason) == (1, "timeout")
    assert first_retry.envelope_id != first.envelope_id
    assert {e.event_id for e in slack.envelopes} == {first.event_id}
    # Socket Mode envelopes always carry retry_attempt, so bolt shows "0" on a first delivery
    # (over HTTP the header is absent): only a value above 0 marks a retry.
    assert [r for _, r in seen] == [["0"], ["1"], ["2"]]
