"""``pagemind ingest`` as a user runs it, including a SIGKILL halfway through a large file."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import uuid
from pathlib import Path

from adapters.mongo.archival import MongoArchivalStore
from adapters.mongo.connection import MongoConnection
from adapters.mongo.embedded import EmbeddedMongo
from adapters.mongo.inbox import MongoInbox
from core.clock import SystemClock
from core.records import ArchivalQuery
from tests.support.files import pdf_bytes
from tests.support.mongo_proxy import StallingProxy
from tests.support.openai_server import ScriptedOpenAIServer

ROOT = Path(__file__).resolve().parents[2]
AGENT = "telegram:user:42"


def env_for(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGEMIND_", "OPENAI_"))}
    env.update(PAGEMIND_DATA_DIR=str(data), COLUMNS="200", **extra)
    return env


async def ingest(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bots.cli", "ingest", *args, "--agent", AGENT,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 180)
    return process.returncode or 0, out.decode()


async def kill_midway(
    path: Path, env: dict[str, str], server: ScriptedOpenAIServer, batches: int
) -> None:
    """Start ``pagemind ingest path`` and SIGKILL it once ``batches`` were embedded."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bots.cli", "ingest", str(path), "--agent", AGENT,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    deadline = asyncio.get_running_loop().time() + 60
    while len(server.embedding_requests) < batches:
        assert asyncio.get_running_loop().time() < deadline, "ingest never got going"
        await asyncio.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    await process.wait()


async def stores(data: Path):
    server = EmbeddedMongo(data / "mongo")
    connection = MongoConnection(await server.start(), "pagemind")
    return server, connection


async def test_ingest_a_folder_reports_each_file_and_refuses_the_bad(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.md").write_text("# Boat\n\nThe boat is called Maria and sleeps four.")
    (folder / "sub" / "manual.pdf").write_bytes(
        pdf_bytes(["Engine oil: change it every 100 hours."])
    )
    (folder / "virus.exe").write_bytes(b"MZ" * 100)
    (folder / ".hidden.txt").write_text("never read")
    code, out = await ingest([str(folder)], env_for(tmp_path / "data"))
    assert code == 1, out  # one file was refused
    assert 'Stored "notes.md"' in out and 'Stored "manual.pdf"' in out
    assert "can't read .exe" in out and "hidden" not in out
    code, out = await ingest([str(folder / "notes.md")], env_for(tmp_path / "data"))
    assert code == 0 and 'I already have "notes.md"' in out
    server, connection = await stores(tmp_path / "data")
    try:
        archival = MongoArchivalStore(connection)
        hits = await archival.search(AGENT, ArchivalQuery(text="engine oil hours"))
        assert hits.items[0].citation() == "manual.pdf, page 1, chunk 1"
        events = await MongoInbox(connection, SystemClock()).pending(AGENT)
        assert sorted(e.filename for e in events) == ["manual.pdf", "notes.md"]  # type: ignore[union-attr]
    finally:
        await connection.aclose()
        await server.stop()


async def test_a_kill_halfway_leaves_none_of_the_file_and_a_rerun_stores_it_once(
    tmp_path: Path,
) -> None:
    big = tmp_path / "logbook.txt"
    big.write_text(
        "\n\n".join(
            f"Entry {i}: the keeper noted storm number {i} at dawn." * 4 for i in range(1500)
        )
    )
    async with ScriptedOpenAIServer(embedding_delay=0.2) as server:
        env = env_for(
            tmp_path / "data",
            PAGEMIND_LLM_BASE_URL=server.base_url,
            PAGEMIND_EMBEDDING_MODEL="scripted-embed",
        )
        await kill_midway(big, env, server, batches=4)

        db, connection = await stores(tmp_path / "data")
        try:
            archival = MongoArchivalStore(connection)
            assert await archival.count(AGENT) == 0, "half a file must not be searchable"
            found = await archival.search(AGENT, ArchivalQuery(text="keeper storm dawn"))
            assert found.total == 0
        finally:
            await connection.aclose()
            await db.stop()

        server.embedding_delay = 0
        # The killed load is silent from its kill on: with a stale time of a millisecond, it
        # is already past it when the rerun starts.
        code, out = await ingest([str(big)], env | {"PAGEMIND_UPLOAD_STALE_SECONDS": "0.001"})
        assert code == 0, out
        assert "Cleaned up 1 interrupted upload" in out and 'Stored "logbook.txt"' in out

    db, connection = await stores(tmp_path / "data")
    try:
        archival = MongoArchivalStore(connection)
        passages = await archival.all(AGENT)
        ids = [p.id for p in passages]
        assert len(ids) == len(set(ids)) and len(ids) > 100
        assert await archival.count(AGENT) == len(ids)
        texts = " ".join(p.text for p in passages)
        assert all(f"storm number {i} " in texts for i in (0, 700, 1499))
    finally:
        await connection.aclose()
        await db.stop()


async def test_re_ingesting_right_after_a_killed_load_says_when_and_fails(
    tmp_path: Path,
) -> None:
    big = tmp_path / "crash20.txt"
    big.write_text(
        "\n\n".join(f"Entry {i}: the ferry left at dawn in fog number {i}." * 4 for i in range(800))
    )
    async with ScriptedOpenAIServer(embedding_delay=0.2) as server:
        env = env_for(
            tmp_path / "data",
            PAGEMIND_LLM_BASE_URL=server.base_url,
            PAGEMIND_EMBEDDING_MODEL="scripted-embed",
        )
        await kill_midway(big, env, server, batches=2)
        code, out = await ingest([str(big)], env)
    assert code != 0, "nothing was stored: a script must not take this for success"
    assert '"crash20.txt" is being read already' in out
    assert re.search(r"taken over from \d\d:\d\d:\d\d UTC at the latest", out), out


async def test_a_publication_that_times_out_leaves_nothing_and_a_retry_stores_it_once(
    tmp_path: Path, nx_uri: str
) -> None:
    notes = tmp_path / "harbour.txt"
    notes.write_text(
        "\n\n".join(f"Berth {i}: the harbour master logged tide mark {i}." * 3 for i in range(60))
    )
    database = f"ingest_{uuid.uuid4().hex[:8]}"
    _, port = nx_uri.removeprefix("mongodb://").split(":")
    async with StallingProxy(int(port)) as proxy:
        env = env_for(
            tmp_path / "data",
            PAGEMIND_MONGODB_URI=proxy.uri(socketTimeoutMS=1500),
            PAGEMIND_MONGODB_DATABASE=database,
        )
        # The database makes the staged passages searchable, but its answer never comes.
        proxy.stall_once(lambda command: command.get("update") == "passages")
        code, out = await ingest([str(notes)], env)
        assert proxy.stalled.is_set(), "the publication ran on the server"
        assert code == 1 and "timed out" in out and "Traceback" not in out

        connection = MongoConnection(nx_uri, database)
        try:
            archival = MongoArchivalStore(connection)
            assert await archival.count(AGENT) == 0, "a load reported as failed left passages"
            found = await archival.search(AGENT, ArchivalQuery(text="harbour master tide"))
            assert found.total == 0

            code, out = await ingest([str(notes)], env)
            assert code == 0, out
            stored = re.search(r'Stored "harbour.txt": (\d+) passages?\.', out)
            assert stored, out
            passages = await archival.all(AGENT)
            assert len(passages) == int(stored.group(1)) == len({p.id for p in passages})
        finally:
            await connection.client.drop_database(database)
            await connection.aclose()


async def test_file_names_and_contents_that_are_not_valid_unicode_are_made_valid(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.json")  # a Latin-1 file name on a UTF-8 file system
    (folder / name).write_bytes(b'{"dock": "pier nine", "note": "a lone \\ud800 escape"}')
    code, out = await ingest([str(folder)], env_for(tmp_path / "data"))
    assert code == 0, out
    assert 'Stored "caf\ufffd.json": 1 passage.' in out
    server, connection = await stores(tmp_path / "data")
    try:
        (hit,) = (await MongoArchivalStore(connection).search(AGENT, ArchivalQuery("pier"))).items
        assert "a lone \ufffd escape" in hit.text and hit.source == "caf\ufffd.json"
    finally:
        await connection.aclose()
        await server.stop()
