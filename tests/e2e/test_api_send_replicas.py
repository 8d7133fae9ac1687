"""A message sent through one replica's API to an agent another replica runs: it goes
through the inbox to the replica that runs the agent, and the answer (and, streamed, the
steps) comes back from what that replica stored. Two real ``pagemind run`` processes on one
embedded database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.e2e.test_api_replicas import AGENT
from tests.e2e.test_cli_chat import run
from tests.support.api_replicas import api_replicas
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply


async def test_a_message_sent_on_one_replica_is_answered_by_the_one_running_the_agent(
    tmp_path: Path,
) -> None:
    reply = tool_reply("send_message", {"message": "From the holder."}, content="thinking")
    async with ScriptedOpenAIServer(default=reply) as llm, api_replicas(tmp_path, llm) as replicas:
        env = replicas.env
        auth = replicas.auth
        holder_url = await replicas.start("holder")
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
        other_url = await replicas.start("other")
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
