"""A memory edit, a pause and a resume asked of one replica are applied by the replica
running the agent, through its inbox: two real ``pagemind run`` processes on one embedded
database; the paused agent records the event that comes meanwhile and calls no model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.e2e.test_cli_chat import run
from tests.support.api_replicas import api_replicas
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply

AGENT = "telegram:user:8"


async def ingest(env: dict[str, str], path: Path, text: str) -> None:
    path.write_text(text)
    code, _, err = await run(["ingest", str(path), "--agent", AGENT], env)
    assert code == 0, err


async def messages_reach(http: httpx.AsyncClient, count: int) -> dict[str, object]:
    """The agent once it holds ``count`` messages (its worker processed the event)."""
    async with asyncio.timeout(60):
        while True:
            answer = await http.get(f"/api/agents/{AGENT}")
            if answer.status_code == 200 and answer.json()["messages"] >= count:
                return dict(answer.json())
            await asyncio.sleep(0.05)


async def test_pause_edit_and_resume_on_one_replica_are_applied_by_the_agents_own(
    tmp_path: Path,
) -> None:
    reply = tool_reply("send_message", {"message": "Got the file."})
    async with ScriptedOpenAIServer(default=reply) as llm, api_replicas(tmp_path, llm) as replicas:
        env = replicas.env
        auth = replicas.auth
        holder_url = await replicas.start("holder")
        await ingest(env, tmp_path / "one.txt", "The lighthouse keeper's notes.")
        async with httpx.AsyncClient(base_url=holder_url, headers=auth, timeout=60) as mine:
            first = await messages_reach(mine, 1)
            calls = len(llm.requests)
            assert calls >= 1, "the holder ran the agent's turn"
            other_url = await replicas.start("other")
            async with httpx.AsyncClient(base_url=other_url, headers=auth, timeout=60) as theirs:
                blocks = (await theirs.get(f"/api/agents/{AGENT}/memory")).json()["blocks"]
                human = next(b for b in blocks if b["label"] == "human")
                edited = await theirs.put(
                    f"/api/agents/{AGENT}/memory/human",
                    json={"value": "Keeps a lighthouse.", "version": human["version"]},
                )
                assert edited.status_code == 200, edited.text
                paused = await theirs.post(f"/api/agents/{AGENT}/pause")
                assert paused.status_code == 200 and paused.json()["paused"] is True
            seen = (await mine.get(f"/api/agents/{AGENT}/memory")).json()["blocks"]
            assert "Keeps a lighthouse." in [b["value"] for b in seen]
            await ingest(env, tmp_path / "two.txt", "The second notebook.")
            second = await messages_reach(mine, int(str(first["messages"])) + 1)
            assert len(llm.requests) == calls  # paused: recorded, no model call
            async with httpx.AsyncClient(base_url=other_url, headers=auth, timeout=60) as theirs:
                resumed = await theirs.post(f"/api/agents/{AGENT}/resume")
                assert resumed.status_code == 200 and resumed.json()["paused"] is False
            await ingest(env, tmp_path / "three.txt", "The third notebook.")
            # resumed: the event's message, then the model's answer
            await messages_reach(mine, int(str(second["messages"])) + 2)
            assert len(llm.requests) > calls
        holder_log = replicas.log("holder")
        other_log = replicas.log("other")
        for applied in ("edit_memory applied", "pause applied", "resume applied"):
            assert applied in holder_log
            assert applied not in other_log
