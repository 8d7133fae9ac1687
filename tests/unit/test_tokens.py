"""Token counts are exact for OpenAI models: the same ids as a second, independent
implementation of OpenAI's encodings (``bpe-openai``, whose ids are tiktoken's), on text of
every kind the agent meets."""

from __future__ import annotations

import json

import pytest

from core.context.tokens import TokenCounter

SAMPLES = [
    "hello world",
    "tiktoken is great!",
    "I'm sure they'll say we've done it; she'd've known. DON'T SHOUT",
    "Größe und Bär über Straße. Привет, мир! Как дела? 日本語のテキストです。한국어 문장.",
    "emoji 🙂🧠👩‍👩‍👧‍👦 and flags 🇫🇷🇯🇵, combining e\u0301 and zero\u200bwidth",
    "<|endoftext|> and <|im_start|>user are text here, not special tokens",
    "numbers 1 12 123 1234 12345 3.14159 1,000,000 2026-11-21T09:00:00Z",
    "def f(x):\n    return {'a': [1, 2, 3]}  # code\n\n\n\t\tindented\r\n",
    "   leading and trailing spaces   \n\n\n   ",
    json.dumps({"type": "function", "function": {"name": "send_message", "parameters": {}}}),
    "a" * 5000,
    " ".join(f"word{i}" for i in range(3000)),
]


@pytest.mark.parametrize(
    ("model", "encoding"), [("gpt-4o-mini", "o200k_base"), ("gpt-4-turbo", "cl100k_base")]
)
def test_counts_and_ids_are_openais(model: str, encoding: str) -> None:
    bpe_openai = pytest.importorskip("bpe_openai", reason="the reference tokenizer (test extra)")
    reference = bpe_openai.get_encoding(encoding)
    counter = TokenCounter(model)
    assert counter.exact and counter.encoding_name == encoding
    for text in SAMPLES:
        ids = list(reference.encode_ordinary(text))
        assert counter.encode(text) == ids, text[:40]
        assert counter.count(text) == len(ids), text[:40]


def test_known_ids() -> None:
    """Ids published with OpenAI's own tokenizer (tiktoken's README and cookbook)."""
    assert TokenCounter(encoding="cl100k_base").encode("tiktoken is great!") == [
        83, 1609, 5963, 374, 2294, 0,
    ]  # fmt: skip
    assert TokenCounter("gpt-4o").encode("hello world") == [24912, 2375]


def test_cutting_keeps_whole_characters_within_the_limit() -> None:
    counter = TokenCounter("gpt-4o-mini")
    text = "Tea at nine 🙂🧠 then a walk by the river. " * 40
    for limit in (1, 5, 17, 60):
        head, tail = counter.truncate(text, limit), counter.tail(text, limit)
        assert text.startswith(head) and counter.count(head) <= limit
        assert text.endswith(tail.lstrip("\ufffd")) and counter.count(tail) <= limit + 1
    assert counter.truncate(text, 10**6) == text and counter.tail(text, 10**6) == text


def test_text_over_a_million_characters_is_counted_whole() -> None:
    counter = TokenCounter("gpt-4o-mini")
    first, more = "The quick brown fox jumps over the lazy dog.", " The quick brown fox jumps."
    text = first + more * 50_000  # 1.35M characters; words never merge across " The"
    assert len(text) > 1_000_000
    assert counter.count(text) == counter.count(first) + 50_000 * counter.count(more)
