"""Every replica serves the API, and a change to an agent run by another replica reaches it
through the inbox: two real ``pagemind run`` processes on one embedded database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.e2e.test_cli_chat import run
from tests.support.api_replicas import api_replicas
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply

AGENT = "telegram:user:7"


async def test_a_budget_set_on_one_replica_is_applied_by_the_one_running_the_agent(
    tmp_path: Path,
) -> None:
    reply = tool_reply("send_message", {"message": "Got the file."})
    async with ScriptedOpenAIServer(default=reply) as llm, api_replicas(tmp_path, llm) as replicas:
        env = replicas.env
        auth = replicas.auth
        holder_url = await replicas.start("holder")
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
        other_url = await replicas.start("other")
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
        assert applied in replicas.log("holder")
        assert applied not in replicas.log("other")
