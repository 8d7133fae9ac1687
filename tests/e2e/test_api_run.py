"""``pagemind keys`` and ``pagemind run`` serving the operator API, as real processes on the
embedded database: a key made by one process works in the server, and revoking it there
shuts it out at the next request."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import httpx

from pagemind_client import Pagemind
from tests.e2e.test_cli_chat import clean_env, run
from tests.e2e.test_run_service import wait_for_log
from tests.support.openai_server import ScriptedOpenAIServer

ROOT = Path(__file__).resolve().parents[2]


async def test_keys_are_made_listed_and_revoked_for_the_running_server(tmp_path: Path) -> None:
    async with ScriptedOpenAIServer() as llm:
        env = clean_env(
            tmp_path,
            PAGEMIND_LLM_BASE_URL=llm.base_url,
            PAGEMIND_LLM_MODEL="scripted",
            PAGEMIND_API_PORT="0",
        )
        code, out, err = await run(["keys", "create", "--name", "ops team", "--role", "admin"], env)
        assert code == 0, err
        key = out.strip().splitlines()[-1]
        assert key.startswith("pm_") and "shown only now" in out
        key_id = key.split("_")[1]
        code, out, err = await run(["keys", "create", "--name", "x", "--role", "root"], env)
        assert code == 2 and "admin or viewer" in err
        log = tmp_path / "run.log"
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bots.cli", "run", cwd=ROOT, env=env, stdout=sink,
                stderr=sink,
            )  # fmt: skip
        try:
            await wait_for_log(log, "the operator API at http://", process)
            url = log.read_text().split("the operator API at ", 1)[1].split(";", 1)[0]

            def use_it() -> list[str]:
                with Pagemind(url, key) as pm:
                    return [a.key for a in pm.agents.list()]

            assert await asyncio.to_thread(use_it) == []
            code, listing, err = await run(["keys"], env)
            assert code == 0 and key_id in listing and "ops team" in listing and "admin" in listing
            assert key.split("_", 2)[2] not in listing  # the secret is never shown again
            code, out, err = await run(["keys", "revoke", key_id], env)
            assert code == 0 and f"Revoked key {key_id}" in out
            async with httpx.AsyncClient(base_url=url) as http:
                refused = await http.get("/api/agents", headers={"Authorization": f"Bearer {key}"})
            assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
            code, listing, err = await run(["keys"], env)
            assert key_id in listing and "UTC" in listing.split(key_id, 1)[1].splitlines()[0]
            code, out, err = await run(["keys", "revoke", "ffffffffffff"], env)
            assert code == 1 and "no key 'ffffffffffff'" in err
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 60) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        logged = log.read_text()
        assert key.split("_", 2)[2] not in logged and "Traceback" not in logged


async def test_keys_with_in_memory_storage_say_why_they_cannot_work(tmp_path: Path) -> None:
    env = clean_env(tmp_path, PAGEMIND_STORAGE="memory")
    code, out, err = await run(["keys", "create", "--name", "a", "--role", "admin"], env)
    assert code == 2 and "PAGEMIND_STORAGE=memory" in err and "pm_" not in out
    assert "Traceback" not in err


async def test_a_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        async with ScriptedOpenAIServer() as llm:
            env = clean_env(
                tmp_path,
                PAGEMIND_LLM_BASE_URL=llm.base_url,
                PAGEMIND_LLM_MODEL="scripted",
                PAGEMIND_STORAGE="memory",
                PAGEMIND_API_PORT=str(port),
            )
            code, _, err = await run(["run"], env)
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err
    assert "PAGEMIND_API_PORT" in err and "Traceback" not in err
