"""Shared fixtures. One nx-27017 server serves the whole session; tests use fresh databases."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.mongo import nx_server

# python-telegram-bot 22 warns on every RetryAfter unless told to use timedeltas (and the
# suite turns warnings into errors); Pagemind reads retry_after as a timedelta.
os.environ.setdefault("PTB_TIMEDELTA", "1")


@pytest.fixture(scope="session")
def nx_uri() -> Iterator[str]:
    with nx_server() as uri:
        yield uri
