"""A process that uses the embedded database of a data directory, as Pagemind does, for
tests of its lifetime:

    python -m tests.support.embedded_user <data-dir>

Joins (or starts) the server, prints ``uri <uri>``, writes a document every 0.2 s through it
(printing ``wrote <n>`` or ``failed <error>``), and leaves when its stdin closes.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from adapters.mongo.connection import MongoConnection
from adapters.mongo.embedded import EmbeddedMongo


async def main(data_dir: Path) -> None:
    server = EmbeddedMongo(data_dir)
    uri = await server.start()
    print(f"uri {uri}", flush=True)
    connection = MongoConnection(uri, "lifetime", timeout_ms=2000)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    closed = asyncio.ensure_future(reader.read())
    count = 0
    try:
        while not closed.done():
            count += 1
            try:
                await connection.db["writes"].insert_one({"n": count})
                print(f"wrote {count}", flush=True)
            except Exception as exc:  # reported, then tried again
                print(f"failed {type(exc).__name__}: {exc}", flush=True)
            await asyncio.wait({closed}, timeout=0.2)
    finally:
        await connection.aclose()
        await server.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
