"""What the fake Bot API holds: chats and their messages, files, the update queue, command
menus, the webhook, and every call it answered."""

from __future__ import annotations

import bisect
import copy
import json
from dataclasses import dataclass, field
from typing import Any

from tests.support.fakes.changes import Changes
from tests.support.fakes.telegram import payloads
from tests.support.fakes.telegram.faults import bad_request
from tests.support.fakes.telegram.payloads import JSON

MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024  # getFile refuses bigger files


@dataclass
class UploadedFile:
    """One multipart file part of a request."""

    field: str
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class Call:
    """One API request: ``at`` is ``time.monotonic()`` on arrival. Calls are recorded once
    answered (a long poll appears when it returns) and kept in arrival order."""

    method: str
    params: JSON
    token: str
    at: float
    files: dict[str, UploadedFile] = field(default_factory=dict)
    status: int = 200
    result: Any = None
    error: JSON | None = None
    dropped: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.dropped


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    file_name: str | None
    mime_type: str | None
    file_size: int

    def as_document(self) -> JSON:
        doc: JSON = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
        }
        if self.file_name:
            doc["file_name"] = self.file_name
        if self.mime_type:
            doc["mime_type"] = self.mime_type
        return doc


@dataclass
class Pending:
    update: JSON
    delivered: bool = False


class BotState(Changes):
    def __init__(self, bot_user: JSON) -> None:
        super().__init__()
        self.bot_user = bot_user
        self.calls: list[Call] = []
        self.tokens: set[str] = set()
        self.downloads: list[str] = []  # file paths served, in order
        self.webhook: JSON | None = None  # last setWebhook params while a webhook is set
        self.pending: list[Pending] = []
        self.files: dict[str, StoredFile] = {}
        self.callback_ids: set[str] = set()
        self.menus: dict[tuple[str, str], list[JSON]] = {}  # (scope, language) -> commands
        self._next_update_id = 500000001
        self._next_message_id: dict[int, int] = {}
        self._chats: dict[int, JSON] = {}
        self._messages: dict[tuple[int, int], JSON] = {}

    def record(self, call: Call) -> None:
        bisect.insort(self.calls, call, key=lambda c: c.at)  # arrival order
        self.notify()

    # ------------------------------------------------------------------ chats and messages

    def private_chat(self, user: JSON) -> JSON:
        return self._chats.setdefault(user["id"], payloads.private_chat(user))

    def group_chat(
        self,
        chat_id: int,
        *,
        title: str = "Test group",
        chat_type: str = "supergroup",
        forum: int | None = None,
    ) -> JSON:
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        chat = self._chats.setdefault(chat_id, payloads.group_chat(chat_id, title, chat_type))
        if forum is not None:
            chat["type"], chat["is_forum"] = "supergroup", True
        return chat

    def chat(self, chat_id: Any) -> JSON:
        try:
            return self._chats[int(chat_id)]
        except (KeyError, TypeError, ValueError):
            raise bad_request("chat not found") from None

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        """The current state of a stored message (edits applied)."""
        return self._messages.get((chat_id, message_id))

    def store(self, message: JSON) -> None:
        self._messages[(message["chat"]["id"], message["message_id"])] = message

    def new_message(self, chat: JSON, sender: JSON, content: JSON) -> JSON:
        chat_id = chat["id"]
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        message = payloads.message(message_id, chat, sender, content)
        self.store(message)
        return copy.deepcopy(message)

    def topic_root(self, chat: JSON, thread_id: int, sender: JSON) -> JSON:
        key = (chat["id"], thread_id)
        if key not in self._messages:
            self._messages[key] = payloads.topic_created(chat, thread_id, sender)
            nxt = self._next_message_id.get(chat["id"], 1)
            self._next_message_id[chat["id"]] = max(nxt, thread_id + 1)
        return self._messages[key]

    def compose(
        self,
        chat: JSON,
        sender: JSON,
        *,
        reply_to: JSON | None,
        thread_id: int | None,
        **content: Any,
    ) -> JSON:
        """A new message in ``chat`` (in its topic ``thread_id``, replying to ``reply_to``):
        a topic message replies to the topic's first message unless it replies to another."""
        if thread_id is not None and chat.get("is_forum"):
            reply_to = reply_to or self.topic_root(chat, thread_id, sender)
        body = payloads.content(chat, reply_to=reply_to, thread_id=thread_id, **content)
        return self.new_message(chat, sender, body)

    def inbound(
        self,
        chat: JSON,
        user: JSON,
        *,
        reply_to: int | JSON | None = None,
        thread_id: int | None = None,
        **content: Any,
    ) -> JSON:
        """A message from ``user``; ``reply_to`` is a message id in the chat, or a message."""
        if isinstance(reply_to, int):
            target = self._messages.get((chat["id"], reply_to))
            if target is None:
                raise ValueError(f"no message {reply_to} in chat {chat['id']} to reply to")
            reply_to = target
        return self.compose(chat, user, reply_to=reply_to, thread_id=thread_id, **content)

    def outbound(self, call: Call, **content: Any) -> JSON:
        """A message from the bot, honouring reply_parameters and message_thread_id."""
        params = call.params
        chat = self.chat(params.get("chat_id"))
        reply = params.get("reply_parameters")
        if reply is None and params.get("reply_to_message_id") is not None:
            reply = {"message_id": params["reply_to_message_id"]}
        target = None
        if isinstance(reply, dict):
            target = self._messages.get((chat["id"], int(reply.get("message_id", 0))))
            allowed = reply.get("allow_sending_without_reply") or params.get(
                "allow_sending_without_reply"
            )
            if target is None and not allowed:
                raise bad_request("message to be replied not found")
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            content["reply_markup"] = markup  # only inline keyboards show up on the message
        thread = params.get("message_thread_id")
        thread_id = int(thread) if thread is not None else None
        return self.compose(chat, self.bot_user, reply_to=target, thread_id=thread_id, **content)

    # ------------------------------------------------------------------ files

    def add_file(
        self,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        file_size: int | None = None,
        kind: str = "documents",
    ) -> JSON:
        n = len(self.files) + 1
        suffix = file_name.rsplit(".", 1)[-1] if file_name and "." in file_name else "bin"
        stored = StoredFile(
            file_id=f"BQACAgIAAxkBAAIF{n:06d}fake",
            file_unique_id=f"AgADfake{n:06d}",
            file_path=f"{kind}/file_{n}.{suffix}",
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            file_size=len(data) if file_size is None else file_size,
        )
        self.files[stored.file_id] = stored
        return stored.as_document()

    # ------------------------------------------------------------------ the update queue

    def queue_update(self, body: JSON) -> JSON:
        update = {"update_id": self._next_update_id, **body}
        self._next_update_id += 1
        self.pending.append(Pending(update))
        self.notify()
        return update

    def requeue(self, update: JSON) -> JSON:
        again = copy.deepcopy(update)
        self.pending.append(Pending(again))
        self.notify()
        return again

    def acknowledge(self, offset: int) -> None:
        if offset < 0:
            self.pending = self.pending[offset:]
        elif offset > 0:
            # Redelivered updates are acknowledged only once they have been handed out again.
            self.pending = [
                p for p in self.pending if not (p.delivered and p.update["update_id"] < offset)
            ]

    # ------------------------------------------------------------------ inspection

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def sent_messages(self, chat_id: int | None = None) -> list[JSON]:
        return [
            c.result
            for c in self.calls
            if c.ok
            and c.method in ("sendMessage", "sendDocument")
            and (chat_id is None or c.result["chat"]["id"] == chat_id)
        ]

    def params_of_successful(self, method: str) -> list[JSON]:
        return [c.params for c in self.calls_to(method) if c.ok]

    @staticmethod
    def menu_key(scope: Any, language_code: Any) -> tuple[str, str]:
        scope = scope or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(language_code or "")
