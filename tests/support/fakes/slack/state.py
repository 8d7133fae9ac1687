"""What the fake workspace holds: users, conversations, files, the bot's messages, reactions
and uploads, and a record of every call, envelope and acknowledgement."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from tests.support.fakes.changes import Changes
from tests.support.fakes.slack import payloads
from tests.support.fakes.slack.payloads import Identity, Json


@dataclass
class ApiCall:
    """One Web API request as the fake received it (injected failures included)."""

    method: str
    args: Json
    at: float  # time.monotonic() on arrival
    token: str | None
    http_method: str
    status: int = 200
    error: str | None = None  # None when the call succeeded
    retry_after: int | None = None  # the Retry-After header of an injected failure


@dataclass
class Message:
    """A message the bot posted with chat.postMessage (updated in place by chat.update)."""

    channel: str
    ts: str
    text: str
    thread_ts: str | None = None
    blocks: list[Json] | None = None
    user: str | None = None
    history: list[str] = field(default_factory=list)  # earlier texts, oldest first


@dataclass
class Envelope:
    """One Socket Mode delivery. A redelivery is a new envelope carrying the same payload."""

    envelope_id: str
    type: str
    payload: Json
    accepts_response_payload: bool
    retry_attempt: int = 0
    retry_reason: str = ""
    first_id: str = ""  # envelope_id of the first delivery of the same payload
    sent_at: float = 0.0

    def __post_init__(self) -> None:
        self.first_id = self.first_id or self.envelope_id

    @property
    def event(self) -> Json:
        """The inner Events API event (``payload["event"]``), or ``{}``."""
        return dict(self.payload.get("event") or {})

    @property
    def event_id(self) -> str | None:
        return self.payload.get("event_id")

    def to_wire(self) -> Json:
        wire: Json = {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "payload": self.payload,
            "accepts_response_payload": self.accepts_response_payload,
        }
        if self.type == "events_api":
            wire |= {"retry_attempt": self.retry_attempt, "retry_reason": self.retry_reason}
        return wire


@dataclass
class Ack:
    """A Socket Mode acknowledgement sent by the app."""

    envelope_id: str
    payload: Json | None
    at: float


@dataclass
class StoredFile:
    info: Json
    content: bytes


@dataclass
class Upload:
    """A file the bot shared with files.upload v2 (getUploadURLExternal, the upload itself,
    completeUploadExternal)."""

    file_id: str
    filename: str
    title: str
    content: bytes
    channel: str | None
    thread_ts: str | None
    initial_comment: str | None


class Workspace(Changes):
    def __init__(self, identity: Identity) -> None:
        super().__init__()
        self.identity = identity
        self.port = 0  # of the server, once started (file URLs point at it)

        self.calls: list[ApiCall] = []
        self.messages: list[Message] = []
        self.ephemerals: list[Json] = []
        self.reactions: list[Json] = []
        self.envelopes: list[Envelope] = []
        self.acks: list[Ack] = []
        self.responses: list[Json] = []  # bodies POSTed to response_url endpoints
        self.downloads: list[tuple[str, bool]] = []  # (file id, authorized)
        # File id -> an HTML page served in place of the file even with a good token (what
        # Slack does when the app lacks files:read, or for an error page).
        self.pages_instead: dict[str, str] = {}
        self.uploads: list[Upload] = []  # files shared by the bot (files.upload v2)
        self.pending_uploads: dict[str, tuple[str, bytes | None]] = {}  # id -> (name, bytes)

        self.users: dict[str, Json] = {}
        self.conversations: dict[str, Json] = {}
        self.files: dict[str, StoredFile] = {}
        self._seq = itertools.count(1)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def next_number(self) -> int:
        return next(self._seq)

    def new_ts(self) -> str:
        """A unique, increasing Slack timestamp such as ``"1700000000.000042"``."""
        return f"{int(time.time())}.{self.next_number():06d}"

    # ------------------------------------------------------------ workspace data

    def add_user(
        self, user_id: str, name: str, *, real_name: str | None = None, is_bot: bool = False
    ) -> Json:
        user = payloads.user(self.identity, user_id, name, real_name=real_name, is_bot=is_bot)
        self.users[user_id] = user
        return user

    def add_channel(self, channel_id: str, name: str, *, is_private: bool = False) -> Json:
        conversation = payloads.channel(channel_id, name, is_private=is_private)
        self.conversations[channel_id] = conversation
        return conversation

    def add_im(self, channel_id: str, user_id: str) -> Json:
        conversation = payloads.im(channel_id, user_id)
        self.conversations[channel_id] = conversation
        return conversation

    def add_file(
        self,
        file_id: str,
        content: bytes,
        *,
        name: str = "file.txt",
        mimetype: str = "text/plain",
        filetype: str = "text",
        user: str | None = None,
    ) -> Json:
        info = payloads.file(
            self.identity,
            self.base_url,
            file_id,
            len(content),
            name=name,
            mimetype=mimetype,
            filetype=filetype,
            user=user,
        )
        self.files[file_id] = StoredFile(info, content)
        return dict(info)

    def dm_with(self, user_id: str) -> str:
        """The DM channel with ``user_id`` (opened on first use)."""
        dm = next((c for c, v in self.conversations.items() if v.get("user") == user_id), None)
        return dm or self.add_im(f"D{user_id[1:]}", user_id)["id"]

    # ---------------------------------------------------------------- inspection

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    def posted(self, channel: str | None = None) -> list[Message]:
        return [m for m in self.messages if channel is None or m.channel == channel]

    def acked(self, envelope: Envelope | str) -> Ack | None:
        envelope_id = envelope if isinstance(envelope, str) else envelope.envelope_id
        return next((a for a in self.acks if a.envelope_id == envelope_id), None)

    def deliveries_of(self, envelope: Envelope) -> list[Envelope]:
        """Every delivery of ``envelope``'s payload so far (the first one included)."""
        return [e for e in self.envelopes if e.first_id == envelope.first_id]
