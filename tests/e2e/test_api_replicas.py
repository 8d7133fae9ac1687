"""Every replica serves the API, and a change to an agent run by another replica reaches it
through the inbox: two real ``pagemind run`` processes on one embedded database."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import httpx

from tests.e2e.test_cli_chat import clean_env, run
from tests.e2e.test_run_service import wait_for_log
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply

ROOT = Path(__file__).resolve().parents[2]
AGENT = "telegram:user:7"


async def start(
    name: str, env: dict[str, str], log: Path
) -> tuple[asyncio.subprocess.Process, str]:
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bots.cli", "run", cwd=ROOT,
            env=env | {"PAGEMIND_WORKER_NAME": name}, stdout=sink, stderr=sink,
        )  # fmt: skip
    await wait_for_log(log, "the operator API at http://", process)
    return process, log.read_text().split("the operator API at ", 1)[1].split(";", 1)[0]


async def test_a_budget_set_on_one_replica_is_applied_by_the_one_running_the_agent(
    tmp_path: Path,
) -> None:
    reply = tool_reply("send_message", {"message": "Got the file."})
    async with ScriptedOpenAIServer(default=reply) as llm:
        env = clean_env(
            tmp_path / "data",
            PAGEMIND_LLM_BASE_URL=llm.base_url,
            PAGEMIND_LLM_MODEL="scripted",
            PAGEMIND_API_PORT="0",
            PAGEMIND_CHECKINS="false",
        )
        code, out, err = await run(["keys", "create", "--name", "ops", "--role", "admin"], env)
        assert code == 0, err
        key = out.strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {key}"}
        processes: list[asyncio.subprocess.Process] = []
        try:
            holder, holder_url = await start("holder", env, tmp_path / "holder.log")
            processes.append(holder)
            notes = tmp_path / "notes.txt"
            notes.write_text("The lighthouse keeper's notes.")
            code, _, err = await run(["ingest", str(notes), "--agent", AGENT], env)
            assert code == 0, err
            # the only worker takes the upload's event: it creates the agent and keeps it
            async with httpx.AsyncClient(base_url=holder_url, headers=auth) as http:
                for _ in range(600):
                    if (await http.get(f"/api/agents/{AGENT}")).status_code == 200:
                        break
                    await asyncio.sleep(0.05)
            assert llm.requests, "the holder ran the agent's turn"
            other, other_url = await start("other", env, tmp_path / "other.log")
            processes.append(other)
            async with httpx.AsyncClient(base_url=other_url, headers=auth, timeout=60) as http:
                changed = await http.put(
                    f"/api/agents/{AGENT}/budget", json={"daily_token_budget": 4321}
                )
            assert changed.status_code == 200, changed.text
            assert changed.json()["budget_override"] == 4321
            async with httpx.AsyncClient(base_url=holder_url, headers=auth) as http:
                seen = (await http.get(f"/api/agents/{AGENT}/usage")).json()
            assert seen["budget_override"] == 4321
            applied = "set_daily_budget applied"
            assert applied in (tmp_path / "holder.log").read_text()
            assert applied not in (tmp_path / "other.log").read_text()
        finally:
            for process in processes:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    await asyncio.wait_for(process.wait(), 60)
                except TimeoutError:
                    process.kill()
                    await process.wait()
