"""A second process that searches one agent's recall or archival memory, holding its search
index between searches as a replica does: one JSON query per line on stdin, one JSON answer
per line on stdout; it ends when stdin closes.

    python -m tests.support.search_reader recall <mongodb-uri> <database> <agent-key>
        {"text": ..., "max_seq": n or null} -> {"seqs": [...], "total": n}
    python -m tests.support.search_reader archival <mongodb-uri> <database> <agent-key>
        {"text": ...} -> {"ids": [...], "total": n}
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from adapters.mongo.archival import MongoArchivalStore
from adapters.mongo.connection import MongoConnection
from adapters.mongo.recall import MongoRecallStore
from core.records import ArchivalQuery, RecallQuery


async def main(kind: str, uri: str, database: str, agent_key: str) -> None:
    connection = MongoConnection(uri, database)
    recall, archival = MongoRecallStore(connection), MongoArchivalStore(connection)

    async def answer(query: dict[str, Any]) -> dict[str, Any]:
        if kind == "recall":
            found = RecallQuery(text=query["text"], max_seq=query["max_seq"], limit=50)
            messages = await recall.search(agent_key, found)
            return {"seqs": [m.seq for m in messages.items], "total": messages.total}
        passages = await archival.search(agent_key, ArchivalQuery(text=query["text"], limit=50))
        return {"ids": [p.id for p in passages.items], "total": passages.total}

    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            sys.stdout.write(json.dumps(await answer(json.loads(line))) + "\n")
            sys.stdout.flush()
    finally:
        await connection.aclose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
