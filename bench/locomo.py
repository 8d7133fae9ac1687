"""The LoCoMo dev set as the retrieval benchmark reads it: conversations of sessions of
turns, and questions with the turns that hold their evidence."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# the LoCoMo dev set, beside the checkout (../shared/data); each benchmark takes --locomo
LOCOMO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "locomo-dev.json"

_EVIDENCE = re.compile(r"D:?(\d+):(\d+)")  # "D1:3"; the data also has "D:11:26", "D8:6; D9:17"
_SESSION = re.compile(r"session_(\d+)")
UTC_ZONE = ZoneInfo("UTC")


# ---------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Turn:
    dia_id: str
    speaker: str
    content: str  # what was said, with "[shares <caption>]" when a photo came with it

    @property
    def line(self) -> str:
        return f"{self.speaker}: {self.content}"


@dataclass(frozen=True)
class Session:
    number: int
    when: datetime
    date_text: str  # as the data writes it: "1:56 pm on 8 May, 2023"
    turns: tuple[Turn, ...]

    @property
    def label(self) -> str:
        return f"session {self.number} ({self.date_text})"


@dataclass(frozen=True)
class Question:
    text: str
    category: int
    evidence: frozenset[str]


@dataclass(frozen=True)
class Conversation:
    sample_id: str
    sessions: tuple[Session, ...]
    questions: tuple[Question, ...]
    unusable: int  # category 1-4 questions none of whose evidence ids names a turn

    @property
    def filename(self) -> str:
        return f"{self.sample_id}.md"

    @property
    def turns(self) -> list[Turn]:
        return [t for s in self.sessions for t in s.turns]

    def markdown(self) -> str:
        """The file a user would upload: one heading per session, one line per turn."""
        blocks = [
            f"# {s.label}\n" + "\n".join(t.line for t in s.turns) for s in self.sessions if s.turns
        ]
        return "\n\n".join(blocks) + "\n"


def _dia(session: str | int, turn: str | int) -> str:
    return f"D{int(session)}:{int(turn)}"


def load_conversations(
    path: Path, limit: int | None, per_conversation: int | None
) -> list[Conversation]:
    """The LoCoMo conversations in ``path``; exits with a message saying where to get them."""
    if not path.is_file():
        sys.exit(
            f"LoCoMo data not found at {path}.\nGet data/locomo10.json from the public "
            "repository snap-research/LoCoMo (license CC BY-NC 4.0) and save it there (this "
            "benchmark's numbers are for the subset conv-26, -30, -41, -42, -43, -44)."
        )
    raw = json.loads(path.read_text("utf-8"))
    return [_conversation(item, per_conversation) for item in raw[:limit]]


def _conversation(item: dict[str, Any], per_conversation: int | None) -> Conversation:
    data = item["conversation"]
    numbers = sorted(
        int(m.group(1)) for k in data if (m := _SESSION.fullmatch(k)) and data[k] is not None
    )
    sessions = []
    for n in numbers:
        date_text = data[f"session_{n}_date_time"]
        when = datetime.strptime(date_text, "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)
        turns = []
        for t in data[f"session_{n}"]:
            content = " ".join(t["text"].split())
            if t.get("blip_caption"):
                content += f" [shares {t['blip_caption']}]"
            (dia,) = _EVIDENCE.findall(t["dia_id"])
            turns.append(Turn(_dia(*dia), t["speaker"], content))
        sessions.append(Session(n, when, date_text, tuple(turns)))
    known = {t.dia_id for s in sessions for t in s.turns}
    questions, unusable = [], 0
    for qa in item["qa"]:
        if qa.get("category") not in (1, 2, 3, 4):
            continue
        evidence = frozenset(
            _dia(*ids) for e in qa.get("evidence", []) for ids in _EVIDENCE.findall(e)
        )
        if not evidence & known:
            unusable += 1
            continue
        questions.append(Question(qa["question"], qa["category"], evidence & known))
    return Conversation(
        item["sample_id"], tuple(sessions), tuple(questions[:per_conversation]), unusable
    )
