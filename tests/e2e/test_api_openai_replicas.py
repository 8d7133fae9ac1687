"""The OpenAI-compatible endpoint on two real ``pagemind run`` processes sharing one embedded
database: a person's message sent to the replica that does not run their agent is answered
by the one that does, and the reply and its usage come back through the shared stores."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import openai
import pymongo

from tests.e2e.test_api_openai import remembers
from tests.e2e.test_run_service import wait_for_log
from tests.support.api_replicas import api_replicas
from tests.support.openai_server import Held, ScriptedOpenAIServer


async def test_a_message_sent_through_another_replica_is_answered_by_the_agents_worker(
    tmp_path: Path,
) -> None:
    async with (
        ScriptedOpenAIServer(default=remembers) as llm,
        api_replicas(tmp_path, llm) as replicas,
    ):
        key = replicas.key
        holder_url = await replicas.start("holder")
        async with openai.AsyncOpenAI(
            base_url=f"{holder_url}/v1", api_key=key, max_retries=0
        ) as client:
            first = await client.chat.completions.create(
                model="pagemind", user="ana", messages=[{"role": "user", "content": "tea"}]
            )
        assert first.choices[0].message.content == "you like tea"
        other_url = await replicas.start("other")
        asked = len(llm.requests)
        async with openai.AsyncOpenAI(
            base_url=f"{other_url}/v1", api_key=key, max_retries=0, timeout=60
        ) as client:
            second = await client.chat.completions.create(
                model="pagemind", user="ana", messages=[{"role": "user", "content": "mate"}]
            )
        assert second.choices[0].message.content == "you like tea and mate"
        bodies = [body for _, body in llm.requests[asked:]]
        assert second.usage is not None
        assert second.usage.prompt_tokens == sum(len(json.dumps(b)) // 4 for b in bodies)
        assert second.usage.completion_tokens == 12 * len(bodies)
        # the holder ran both turns: it held the agent's lease all along
        log = replicas.log("holder")
        port = int(log.split("(nx-27017) on 127.0.0.1:", 1)[1].split()[0])
        with pymongo.MongoClient("127.0.0.1", port, serverSelectionTimeoutMS=5000) as db:
            lease = db["pagemind"]["leases"].find_one({"_id": "openai:user:ana"})
        assert lease is not None
        assert (lease["owner"], lease["epoch"]) == ("holder", 1)


async def test_a_retry_through_another_replica_waits_for_the_first_turn_and_gets_its_answer(
    tmp_path: Path,
) -> None:
    """A client (or its load balancer) sends again, to the other replica, while the first
    replica's turn is still at the model: one turn, one answer for both."""
    slow = Held(remembers)
    async with (
        ScriptedOpenAIServer(default=slow) as llm,
        api_replicas(tmp_path, llm) as replicas,
    ):
        first_url = await replicas.start("first")
        other_url = await replicas.start("other")
        retry = {"Idempotency-Key": "order-7"}
        hello = [{"role": "user", "content": "tea"}]
        async with (
            openai.AsyncOpenAI(base_url=f"{first_url}/v1", api_key=replicas.key) as one,
            openai.AsyncOpenAI(base_url=f"{other_url}/v1", api_key=replicas.key) as two,
        ):
            first = asyncio.create_task(
                one.chat.completions.create(
                    model="pagemind", user="ana", messages=hello, extra_headers=retry
                )
            )
            await slow.reached.wait()
            again = asyncio.create_task(
                two.chat.completions.create(
                    model="pagemind", user="ana", messages=hello, extra_headers=retry
                )
            )
            # the other replica has the retry, refused as the same message: it waits
            await wait_for_log(
                replicas.logs / "other.log", "duplicate event dropped", replicas.processes[1]
            )
            slow.release.set()
            answers = await asyncio.gather(first, again)
        assert answers[0] == answers[1]
        assert answers[0].choices[0].message.content == "you like tea"
        assert len(llm.requests) == 1
