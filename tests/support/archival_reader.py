"""A second process that searches one agent's archival memory, holding its search index
between searches as a replica does: one JSON query per line on stdin, one JSON answer per
line on stdout (``{"ids": [...], "total": n}``); it ends when stdin closes.

    python -m tests.support.archival_reader <mongodb-uri> <database> <agent-key>
"""

from __future__ import annotations

import asyncio
import json
import sys

from adapters.mongo.archival import MongoArchivalStore
from adapters.mongo.connection import MongoConnection
from core.records import ArchivalQuery


async def main(uri: str, database: str, agent_key: str) -> None:
    connection = MongoConnection(uri, database)
    store = MongoArchivalStore(connection)
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            query = json.loads(line)
            page = await store.search(agent_key, ArchivalQuery(text=query["text"], limit=50))
            answer = {"ids": [p.id for p in page.items], "total": page.total}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    finally:
        await connection.aclose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
