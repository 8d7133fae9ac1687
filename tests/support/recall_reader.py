"""A second process that word-searches one agent's messages, holding its search index
between searches as a replica does: one JSON query per line on stdin (``{"text": ...,
"max_seq": n or null}``), one JSON answer per line on stdout (``{"seqs": [...], "total":
n}``); it ends when stdin closes.

    python -m tests.support.recall_reader <mongodb-uri> <database> <agent-key>
"""

from __future__ import annotations

import asyncio
import json
import sys

from adapters.mongo.connection import MongoConnection
from adapters.mongo.recall import MongoRecallStore
from core.records import RecallQuery


async def main(uri: str, database: str, agent_key: str) -> None:
    connection = MongoConnection(uri, database)
    store = MongoRecallStore(connection)
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            query = json.loads(line)
            page = await store.search(
                agent_key, RecallQuery(text=query["text"], max_seq=query["max_seq"], limit=50)
            )
            answer = {"seqs": [m.seq for m in page.items], "total": page.total}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    finally:
        await connection.aclose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
