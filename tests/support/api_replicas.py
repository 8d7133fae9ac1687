"""Real ``pagemind run`` replicas serving the operator API on one embedded database, for the
tests that promise something across processes: one admin key made with ``pagemind keys
create``, each replica started on a free port under its own worker name and log, every one
stopped (SIGTERM, then SIGKILL after a minute) when the block ends."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.test_cli_chat import clean_env, run
from tests.e2e.test_run_service import wait_for_log
from tests.support.openai_server import ScriptedOpenAIServer

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Replicas:
    env: dict[str, str]  # the environment every replica and CLI command of the test runs with
    key: str  # an admin API key
    logs: Path  # each replica logs to ``logs / f"{name}.log"``
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    async def start(self, name: str) -> str:
        """Start the replica ``name`` (its worker name too); its API's base URL once it
        serves."""
        log = self.logs / f"{name}.log"
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bots.cli", "run", cwd=ROOT,
                env=self.env | {"PAGEMIND_WORKER_NAME": name}, stdout=sink, stderr=sink,
            )  # fmt: skip
        self.processes.append(process)
        await wait_for_log(log, "the operator API at http://", process)
        return log.read_text().split("the operator API at ", 1)[1].split(";", 1)[0]

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 60)
            except TimeoutError:
                process.kill()
                await process.wait()


@asynccontextmanager
async def api_replicas(tmp_path: Path, llm: ScriptedOpenAIServer) -> AsyncIterator[Replicas]:
    """Replicas on ``tmp_path / "data"`` talking to ``llm``, no check-ins, an admin key."""
    env = clean_env(
        tmp_path / "data",
        PAGEMIND_LLM_BASE_URL=llm.base_url,
        PAGEMIND_LLM_MODEL="scripted",
        PAGEMIND_API_PORT="0",
        PAGEMIND_CHECKINS="false",
    )
    code, out, err = await run(["keys", "create", "--name", "ops", "--role", "admin"], env)
    assert code == 0, err
    replicas = Replicas(env, out.strip().splitlines()[-1], tmp_path)
    try:
        yield replicas
    finally:
        await replicas.stop()
