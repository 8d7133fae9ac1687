"""``pagemind ingest`` as a user runs it, including a SIGKILL halfway through a large file."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from adapters.mongo.archival import MongoArchivalStore
from adapters.mongo.connection import MongoConnection
from adapters.mongo.embedded import EmbeddedMongo
from adapters.mongo.inbox import MongoInbox
from core.clock import SystemClock
from core.records import ArchivalQuery
from tests.support.files import pdf_bytes
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
            PAGEMIND_UPLOAD_STALE_SECONDS="1",
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bots.cli", "ingest", str(big), "--agent", AGENT,
            cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        deadline = asyncio.get_running_loop().time() + 60
        while len(server.embedding_requests) < 4:
            assert asyncio.get_running_loop().time() < deadline, "ingest never got going"
            await asyncio.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        await asyncio.sleep(1.5)  # past the (test-short) stale time

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
        code, out = await ingest([str(big)], env)
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
