"""Agent keys: what the gateway makes is what the rest of the core reads back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.agent_key import AgentKey
from core.inbound.messages import IncomingMessage, Sender, agent_key


def message(**fields: object) -> IncomingMessage:
    base: dict[str, object] = {
        "platform": "slack",
        "delivery_id": "d1",
        "message_id": "m1",
        "sender": Sender(id="U#7", name="Ann"),
        "channel_id": "C02",
        "text": "hi",
        "received_at": datetime(2026, 1, 1, tzinfo=UTC),
        "is_direct": False,
        "workspace_id": "T01",
        "thread_id": "1700.1",
    }
    return IncomingMessage(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scope", "direct", "expected", "group", "person"),
    [
        ("user", False, "slack:user:T01:U_7", False, "T01:U_7"),
        ("channel", True, "slack:user:T01:U_7", False, "T01:U_7"),
        ("channel", False, "slack:channel:T01:C02", True, None),
        ("thread", False, "slack:thread:T01:C02:1700.1", True, None),
    ],
)
def test_a_key_made_for_a_message_reads_back_as_what_it_names(
    scope: str, direct: bool, expected: str, group: bool, person: str | None
) -> None:
    key = agent_key(message(is_direct=direct), scope)  # type: ignore[arg-type]
    assert key == expected
    parsed = AgentKey.parse(key)
    assert str(parsed) == key
    assert parsed.platform == "slack"
    assert parsed.is_group is group
    assert parsed.own_person == person


@pytest.mark.parametrize(
    ("key", "scope", "person"),
    [
        ("console:alice", "user", "alice"),
        ("telegram:user:12345", "user", "12345"),
        ("agent-1", "user", None),  # typed at the command line: no pattern at all
        ("x:y:z", "user", None),
    ],
)
def test_any_string_parses_and_formats_back_unchanged(
    key: str, scope: str, person: str | None
) -> None:
    parsed = AgentKey.parse(key)
    assert str(parsed) == key
    assert parsed.scope == scope
    assert not parsed.is_group
    assert parsed.own_person == person
