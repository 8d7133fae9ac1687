"""Long replies are split at each platform's limit on natural boundaries."""

from __future__ import annotations

import pytest

from core.split import split_message


def test_short_text_is_one_piece() -> None:
    assert split_message("  hello  ", 100) == ["hello"]
    assert split_message("", 100) == []


@pytest.mark.parametrize("limit", [50, 200, 2000, 4096])
def test_no_piece_exceeds_the_limit_and_nothing_is_lost(limit: int) -> None:
    text = "\n\n".join(
        f"Paragraph {i}. " + "Sentence with words here. " * (i % 7 + 1) for i in range(60)
    )
    pieces = split_message(text, limit)
    assert all(len(p) <= limit for p in pieces)
    assert " ".join(" ".join(p.split()) for p in pieces) == " ".join(text.split())


def test_prefers_paragraphs_then_sentences_then_words() -> None:
    text = "First paragraph is here.\n\nSecond one. It has two sentences."
    assert split_message(text, 40) == [
        "First paragraph is here.",
        "Second one. It has two sentences.",
    ]
    assert split_message("One sentence. Another sentence that is long.", 30) == [
        "One sentence.",
        "Another sentence that is long.",
    ]
    words = split_message("alpha beta gamma delta epsilon zeta", 20)
    assert all(not p.startswith(" ") and len(p) <= 20 for p in words)
    assert " ".join(words) == "alpha beta gamma delta epsilon zeta"


def test_a_code_fence_is_closed_and_reopened_never_broken() -> None:
    code = "\n".join(f"print({i})  # line {i}" for i in range(60))
    text = f"Here is the script:\n\n```python\n{code}\n```\n\nRun it."
    pieces = split_message(text, 300)
    assert len(pieces) > 2
    for piece in pieces:
        assert len(piece) <= 300
        assert piece.count("```") % 2 == 0, f"unbalanced fence in: {piece!r}"
    inside = [p for p in pieces if "print(" in p]
    assert all(p.startswith("```python") or "```python" in p for p in inside)
    joined = "\n".join(pieces)
    assert all(f"print({i})" in joined for i in range(60))


def test_a_single_huge_word_is_cut() -> None:
    pieces = split_message("x" * 250, 100)
    assert [len(p) for p in pieces] == [96, 96, 58] or sum(len(p) for p in pieces) == 250
    assert all(len(p) <= 100 for p in pieces)
