"""Token counting with the model's own tokenizer, offline.

``toktok`` (PyPI ``toktok-rs``) has the OpenAI vocabularies (cl100k_base, o200k_base) compiled
in, with ids identical to tiktoken's, so counts are exact for OpenAI models with no download.
Only the one encoding the model uses is loaded (about 60 MiB for o200k_base; bpe-openai, used
before, took 140 MiB). For other models the count is an estimate; the provider's reported
``usage`` corrects it: ``observe()`` keeps a correction factor that never lets the estimate
fall below what the provider has actually counted.

Count on the event loop's thread: toktok allocates a 16 MiB table for each thread that counts
(at its first count), so counting from a pool of worker threads costs 16 MiB per thread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

# How chat messages are framed (OpenAI's published accounting): each message costs its text
# plus a few framing tokens, and every reply is primed with three more.
TOKENS_PER_MESSAGE = 4
TOKENS_PER_REPLY = 3

_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")
_CL100K_PREFIXES = ("gpt-4", "gpt-3.5", "text-embedding-3", "text-embedding-ada")


def encoding_name_for(model: str) -> tuple[str, bool]:
    """The encoding to count ``model``'s tokens with, and whether it is the model's own."""
    name = model.rsplit("/", 1)[-1].lower()
    if name.startswith(_O200K_PREFIXES):
        return "o200k_base", True
    if name.startswith(_CL100K_PREFIXES):
        return "cl100k_base", True
    return "cl100k_base", False


class TokenCounter:
    def __init__(self, model: str = "gpt-4o-mini", encoding: str | None = None) -> None:
        if encoding is None:
            encoding, self.exact = encoding_name_for(model)
        else:
            self.exact = True
        self.encoding_name = encoding
        import toktok  # the vocabulary loads when the first counter is made, not on import

        # toktok's full tokenizer (its README's documented way to ids and decoding; the
        # package's top-level functions only count and cut).
        self._encoding = toktok._encoding(encoding)
        self.correction = 1.0

    def encode(self, text: str) -> list[int]:
        """Token ids, special-token text counted as ordinary text."""
        return list(self._encoding.encode_ordinary(text))

    def count(self, text: str) -> int:
        if not text:
            return 0
        return int(self._encoding.count(text))

    def count_json(self, value: Mapping[str, object]) -> int:
        return self.count(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` that fits in ``max_tokens``, cut at a character
        boundary (a character split across tokens is left out whole)."""
        if max_tokens <= 0:
            return ""
        head, _ = self._encoding.truncate(text, max_tokens)
        return str(head)

    def tail(self, text: str, max_tokens: int) -> str:
        """The longest suffix of ``text`` that fits in ``max_tokens``."""
        if max_tokens <= 0:
            return ""
        ids = self.encode(text)
        if len(ids) <= max_tokens:
            return text
        return str(self._encoding.decode(ids[-max_tokens:]))

    def scaled(self, estimate: int) -> int:
        """``estimate`` corrected by what the provider has reported so far."""
        if self.correction == 1.0:
            return estimate
        return int(estimate * self.correction) + 1

    def observe(self, estimated: int, reported: int) -> None:
        """Learn from the provider's ``usage.prompt_tokens`` for a prompt we estimated.

        The factor moves towards the observed ratio but never below 1: over-counting wastes a
        little context, under-counting sends prompts the provider rejects.
        """
        if estimated <= 0 or reported <= 0:
            return
        ratio = reported / estimated
        target = max(1.0, min(ratio, 4.0))
        if target > self.correction:
            self.correction = target
        else:
            self.correction = max(1.0, 0.9 * self.correction + 0.1 * target)

    def raise_correction(self, factor: float) -> None:
        """The provider rejected a prompt we thought fit: count more cautiously from now on."""
        self.correction = min(4.0, self.correction * factor)
