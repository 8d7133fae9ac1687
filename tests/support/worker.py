"""A Pagemind worker process for multi-process tests: the real service, storage and LLM
adapter, with replies POSTed to a collector URL so the test sees every delivery.

    python -m tests.support.worker <collector-url>

Settings come from the environment (PAGEMIND_MONGODB_URI, PAGEMIND_LLM_BASE_URL, ...).
Events are read from the inbox; the process runs until SIGTERM or SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import sys

import aiohttp

from bots.bootstrap import bootstrap
from bots.stopping import StopSignals, finish_turns
from config.logging import setup_logging
from config.settings import load_settings
from core.events import SendReply


class HttpSink:
    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session

    async def send(self, reply: SendReply) -> None:
        body = {"worker": os.getpid(), **reply.model_dump(mode="json")}
        async with self.session.post(self.url, json=body) as response:
            response.raise_for_status()


async def main(collector: str) -> None:
    setup_logging("INFO")
    stop = StopSignals().install()
    async with aiohttp.ClientSession() as session:
        settings = load_settings()
        async with bootstrap(settings, replies=HttpSink(collector, session)) as svc:
            print("worker ready", flush=True)
            await stop.requested.wait()
            # As `pagemind run` does: finish what is under way, but never wait without limit
            # (the test may have stopped the database already).
            await finish_turns(svc.dispatcher, 10, stop)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
