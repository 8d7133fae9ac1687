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
from tests.e2e.test_run_service import wait_for_log
from tests.support.api_replicas import Replicas, api_replicas
from tests.support.openai_server import Held, ScriptedOpenAIServer, tool_reply

PATH = f"/api/agents/{AGENT}/messages"


async def make_the_agent(replicas: Replicas, url: str, tmp_path: Path) -> None:
    """The agent exists once a replica ran a turn for it: an ingest makes one."""
    notes = tmp_path / "notes.txt"
    notes.write_text("The lighthouse keeper's notes.")
    code, _, err = await run(["ingest", str(notes), "--agent", AGENT], replicas.env)
    assert code == 0, err
    async with httpx.AsyncClient(base_url=url, headers=replicas.auth) as http:
        for _ in range(600):
            if (await http.get(f"/api/agents/{AGENT}")).status_code == 200:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"no agent {AGENT} after the ingest")


async def test_a_message_sent_on_one_replica_is_answered_by_the_one_running_the_agent(
    tmp_path: Path,
) -> None:
    reply = tool_reply("send_message", {"message": "From the holder."}, content="thinking")
    async with ScriptedOpenAIServer(default=reply) as llm, api_replicas(tmp_path, llm) as replicas:
        auth = replicas.auth
        holder_url = await replicas.start("holder")
        path = PATH
        await make_the_agent(replicas, holder_url, tmp_path)
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


async def test_a_retry_through_another_replica_waits_for_the_first_turn_and_gets_its_steps(
    tmp_path: Path,
) -> None:
    """The same message with the same Idempotency-Key, sent again to the other replica while
    the first replica's turn is still at the model: one turn, the same answer for both."""
    answer = tool_reply("send_message", {"message": "Once."}, content="thinking")
    slow = Held(answer, when=lambda body: "tea?" in str(body["messages"][-1]))
    async with (
        ScriptedOpenAIServer(default=slow) as llm,
        api_replicas(tmp_path, llm) as replicas,
    ):
        first_url = await replicas.start("first")
        await make_the_agent(replicas, first_url, tmp_path)
        other_url = await replicas.start("other")
        asked = len(llm.requests)
        message = {"json": {"text": "tea?", "user_id": "7"}, "headers": {"Idempotency-Key": "k-7"}}
        async with (
            httpx.AsyncClient(base_url=first_url, headers=replicas.auth, timeout=60) as one,
            httpx.AsyncClient(base_url=other_url, headers=replicas.auth, timeout=60) as two,
        ):
            first = asyncio.create_task(one.post(PATH, **message))
            await slow.reached.wait()
            again = asyncio.create_task(two.post(PATH, **message))
            await wait_for_log(
                replicas.logs / "other.log",
                "message sent again with its idempotency key",
                replicas.processes[1],
            )
            slow.release.set()
            answers = await asyncio.gather(first, again)
        assert [a.status_code for a in answers] == [200, 200], answers[1].text
        assert answers[0].json() == answers[1].json()
        assert answers[0].json()["replies"] == ["Once."]
        assert len(llm.requests) == asked + 1
