"""A protocol-level fake of Slack on 127.0.0.1: a TEST DOUBLE for driving the real slack-bolt/sdk.

One aiohttp server plays three parts:

* the Web API under ``/api/<method>`` (point ``AsyncWebClient(base_url=fake.api_url)`` at it),
  with private file downloads under ``/files-pri/`` and slash-command ``response_url`` endpoints;
* the Socket Mode websocket (``apps.connections.open`` hands out single-use ``ws://`` URLs);
* the Events API *sender*: signed HTTP POSTs of events, slash commands and interactions to an app.

Everything the fake sees is recorded for assertions; :meth:`FakeSlack.wait_for` waits for a
condition without sleeping. See ``NOTES.md`` in this package for usage and limits.

The package, by idea: ``routes`` (the Web API, file and response_url handlers),
``socket_mode`` (the websocket and envelope delivery), ``events_api`` (signed POSTs to an app),
``state`` (the workspace and everything recorded), ``payloads`` (Slack's objects and events),
``faults`` (scripted failures and answers) and ``fake`` (``FakeSlack``, which puts them
together).
"""

from tests.support.fakes.slack.events_api import HttpResult
from tests.support.fakes.slack.fake import FakeSlack
from tests.support.fakes.slack.faults import MethodHandler
from tests.support.fakes.slack.payloads import Json
from tests.support.fakes.slack.routes import MAX_TEXT
from tests.support.fakes.slack.state import Ack, ApiCall, Envelope, Message, Upload

__all__ = [
    "MAX_TEXT",
    "Ack",
    "ApiCall",
    "Envelope",
    "FakeSlack",
    "HttpResult",
    "Json",
    "Message",
    "MethodHandler",
    "Upload",
]
