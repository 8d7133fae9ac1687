"""The deletion log: how every process learns, before its next search, which passages were
deleted anywhere.

Each agent's counter document (``archival_counters``, read by every search anyway) carries
an ``epoch``, a deletion generation ``gen`` and ``log``, the last few deletions: entries
``{"g": generation, "r": [first, last, first, last, ...]}`` naming the deleted passages by
their storage numbers (never reused within an epoch), as runs. A deletion:

1. appends its entry and bumps ``gen`` in one conditional update of the counter document
   (compare-and-set on ``gen`` and ``epoch``: single-document atomic, no transaction),
   dropping the oldest entries beyond ``LOG_ENTRIES`` (or the store's own limit) or
   ``LOG_NUMBERS``;
2. only then deletes the passages it named, by ``_id`` and number (nothing unlogged).

A reader whose ``gen`` is behind reads the log (one more read, only then), removes the
numbers of the entries it has not applied from its held index and vectors, and keeps the
whole log's numbers as tombstones: a passage it loads later that is in them was being
deleted when it read, and is skipped. A reader further behind than the log reaches, or
whose counter has another ``epoch`` (the agent was erased, and the counter document with
it), starts afresh. A crash between the two steps leaves the passages hidden from readers
that applied the entry; running the deletion again finishes it.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Collection, Iterable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from core.errors import StorageError

Documents = AsyncCollection[dict[str, Any]]
LOG_ENTRIES = 1_000  # deletions kept in the counter document (one passage each: ~50 KiB)
LOG_NUMBERS = 65_536  # run bounds kept in it, at most (a few hundred KiB)
ENTRY_NUMBERS = 8_192  # run bounds in one entry: a larger deletion is logged in parts
ATTEMPTS = 100  # compare-and-set attempts against other deleters of the same agent


def epoch() -> dict[str, dict[str, int]]:
    """The update part that stamps a counter document created by this write with its epoch
    (``$min`` keeps the first stamp: ``$setOnInsert`` is ignored by nx-27017's
    ``find_one_and_update``)."""
    return {"$min": {"epoch": time.time_ns()}}


def runs(numbers: Iterable[int]) -> list[int]:
    """Sorted numbers as flat runs: [first, last, first, last, ...]."""
    out: list[int] = []
    for n in sorted(set(numbers)):
        if out and out[-1] == n - 1:
            out[-1] = n
        else:
            out += [n, n]
    return out


def parts(numbers: Iterable[int]) -> list[list[int]]:
    """``numbers``, sorted, in parts whose runs fit one log entry each."""
    out: list[list[int]] = []
    bounds = 0
    for n in sorted(set(numbers)):
        starts_run = not out or out[-1][-1] != n - 1
        if starts_run:
            bounds += 2
            if bounds > ENTRY_NUMBERS or not out:
                out.append([])
                bounds = 2
        out[-1].append(n)
    return out


class Tombstones:
    """Numbers named by log entries, as merged runs: membership by bisection."""

    def __init__(self, entries: Iterable[dict[str, Any]] = ()) -> None:
        spans = sorted(
            (int(first), int(last))
            for entry in entries
            for first, last in zip(entry["r"][::2], entry["r"][1::2], strict=True)
        )
        merged: list[tuple[int, int]] = []
        for first, last in spans:
            if merged and first <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], last))
            else:
                merged.append((first, last))
        self._firsts = [first for first, _ in merged]
        self._lasts = [last for _, last in merged]

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, int):
            return False
        i = bisect_right(self._firsts, number) - 1
        return i >= 0 and number <= self._lasts[i]

    def __bool__(self) -> bool:
        return bool(self._firsts)

    @property
    def span(self) -> int:
        return sum(last - first + 1 for first, last in zip(self._firsts, self._lasts, strict=True))

    def among(self, held: Collection[int]) -> list[int]:
        """The numbers of ``held`` named here."""
        if self.span <= len(held):
            return [
                n
                for first, last in zip(self._firsts, self._lasts, strict=True)
                for n in range(first, last + 1)
                if n in held
            ]
        return [n for n in held if n in self]


def since(counter: dict[str, Any], applied: int) -> Tombstones | None:
    """The numbers deleted after generation ``applied``, up to the counter's ``gen``; None if
    the log no longer reaches back that far."""
    entries = {e["g"]: e for e in counter.get("log", [])}
    wanted = range(applied + 1, int(counter.get("gen", 0)) + 1)
    if any(g not in entries for g in wanted):
        return None
    return Tombstones(entries[g] for g in wanted)


async def log_deletion(
    counters: Documents, agent_key: str, bounds: list[int], keep: int = LOG_ENTRIES
) -> bool:
    """Append one entry naming the runs ``bounds`` to the agent's deletion log, which keeps
    the last ``keep`` entries; False when the agent has no counter (then no process holds
    any of its passages under the current epoch)."""
    for _ in range(ATTEMPTS):
        counter = await counters.find_one({"_id": agent_key}, {"gen": 1, "log": 1, "epoch": 1})
        if counter is None:
            return False
        gen = int(counter.get("gen", 0))
        log = [*counter.get("log", []), {"g": gen + 1, "r": bounds}]
        size, first = sum(len(e["r"]) for e in log), 0
        while first < len(log) - 1 and (len(log) - first > keep or size > LOG_NUMBERS):
            size -= len(log[first]["r"])
            first += 1
        log = log[first:]
        where: dict[str, Any] = {
            "_id": agent_key,
            "gen": gen if "gen" in counter else {"$exists": False},
            "epoch": counter.get("epoch", {"$exists": False}),
        }
        done = await counters.update_one(where, {"$set": {"gen": gen + 1, "log": log}})
        if done.matched_count == 1:
            return True
    raise StorageError(f"could not log a deletion for {agent_key}: too many at once")
