"""A message sent through one replica's API to an agent another replica runs: it goes
through the inbox to the replica that runs the agent, and the answer (and, streamed, the
steps) comes back from what that replica stored. Two real ``pagemind run`` processes on one
embedded database."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx

from tests.e2e.test_api_replicas import AGENT, start
from tests.e2e.test_cli_chat import clean_env, run
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply


async def test_a_message_sent_on_one_replica_is_answered_by_the_one_running_the_agent(
    tmp_path: Path,
) -> None:
    reply = tool_reply("send_message", {"message": "From the holder."}, content="thinking")
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
        auth = {"Authorization": f"Bearer {out.strip().splitlines()[-1]}"}
        processes: list[asyncio.subprocess.Process] = []
        try:
            holder, holder_url = await start("holder", env, tmp_path / "holder.log")
            processes.append(holder)
            path = f"/api/agents/{AGENT}/messages"
            # the agent exists once the holder ran a turn for it: an ingest makes one
            notes = tmp_path / "notes.txt"
            notes.write_text("The lighthouse keeper's notes.")
            code, _, err = await run(["ingest", str(notes), "--agent", AGENT], env)
            assert code == 0, err
            async with httpx.AsyncClient(base_url=holder_url, headers=auth) as http:
                for _ in range(600):
                    if (await http.get(f"/api/agents/{AGENT}")).status_code == 200:
                        break
                    await asyncio.sleep(0.05)
            asked = len(llm.requests)
            assert asked, "the holder ran the agent's turn"
            other, other_url = await start("other", env, tmp_path / "other.log")
            processes.append(other)
            async with httpx.AsyncClient(base_url=other_url, headers=auth, timeout=60) as http:
                sent = await http.post(path, json={"text": "hello", "user_id": "7"})
                streamed = await http.post(path, json={"text": "again", "stream": True})
            assert sent.status_code == 200, sent.text
            assert sent.json()["replies"] == ["From the holder."]
            assert [s["kind"] for s in sent.json()["steps"]] == [
                "thought",
                "function_call",
                "function_result",
                "reply",
            ]
            events = [e.split("\n")[0] for e in streamed.text.split("\n\n") if e]
            assert events == [
                "event: thought",
                "event: function_call",
                "event: function_result",
                "event: reply",
                "event: done",
            ]
            assert len(llm.requests) == asked + 2
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
