"""``pagemind chat`` after another process held its agent: killed with SIGKILL on this
machine (taken over at once), or somewhere this machine cannot check (the chat says whom it
waits for and how long, then takes over)."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from adapters.mongo.connection import MongoConnection
from adapters.mongo.embedded import EmbeddedMongo
from tests.e2e.test_cli_chat import clean_env, run
from tests.support.mongo import die_with_parent
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply


def echo(body: dict) -> dict:
    last = str(body["messages"][-1]["content"]).split("] ", 1)[-1]
    return tool_reply("send_message", {"message": f"echo {last}"})


async def test_a_chat_killed_mid_turn_and_started_again_answers_at_once(tmp_path: Path) -> None:
    arrived, end_of_test = asyncio.Event(), asyncio.Event()

    async def answer(body: dict) -> dict:
        if "first question" in str(body["messages"][-1]["content"]) and not arrived.is_set():
            arrived.set()
            await end_of_test.wait()  # the killed process never gets this answer
        return echo(body)

    async with ScriptedOpenAIServer(default=answer) as server:  # type: ignore[arg-type]
        env = clean_env(
            tmp_path,
            PAGEMIND_LLM_BASE_URL=server.base_url,
            PAGEMIND_LLM_MODEL="scripted",
            PAGEMIND_LEASE_TTL="600",  # waiting the lease out would take ten minutes
        )
        first = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bots.cli", "chat", "--agent", "console:ana",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, env=env, cwd=str(tmp_path),
            preexec_fn=die_with_parent,
        )  # fmt: skip
        try:
            assert first.stdin is not None
            first.stdin.write(b"first question\n")
            await first.stdin.drain()
            await asyncio.wait_for(arrived.wait(), 60)
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        code, out, err = await run(
            ["chat", "--agent", "console:ana"], env, "second question\n/exit\n", cwd=str(tmp_path)
        )
        end_of_test.set()
    assert code == 0, err
    assert "echo ana: first question" in out, "the killed process's question is answered"
    assert "echo ana: second question" in out
    assert out.index("first question") < out.index("second question")
    assert "Waiting for" not in out and "Traceback" not in err + out


async def test_a_chat_says_whom_it_waits_for_when_it_cannot_check(tmp_path: Path) -> None:
    """Once the chat runs, the agent's lease is found to belong to a process on another
    machine for 4 more seconds: the chat says so, then takes over and answers."""
    server = EmbeddedMongo(tmp_path / "mongo")
    connection = MongoConnection(await server.start(), "pagemind")
    try:
        async with ScriptedOpenAIServer(default=echo) as llm:  # type: ignore[arg-type]
            env = clean_env(
                tmp_path, PAGEMIND_LLM_BASE_URL=llm.base_url, PAGEMIND_LLM_MODEL="scripted"
            )
            chat = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bots.cli", "chat", "--agent", "console:ana",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=env, cwd=str(tmp_path),
                preexec_fn=die_with_parent,
            )  # fmt: skip
            assert chat.stdin is not None and chat.stdout is not None
            try:
                first = await asyncio.wait_for(chat.stdout.readline(), 60)
                assert b"Chatting with agent console:ana" in first
                await connection.db["leases"].insert_one(
                    {
                        "_id": "console:ana",
                        "owner": "far-away",
                        "epoch": 1,
                        "expires": datetime.now(UTC).timestamp() + 4,
                        "process": {
                            "machine": "another-boot/pid:[1]",
                            "network": "another-boot/net:[1]",
                            "pid": 4242,
                            "started": 1,
                            "host": "other-host",
                        },
                        "wake": None,
                    }
                )
                out, err = await asyncio.wait_for(chat.communicate(b"hello?\n/exit\n"), 60)
            finally:
                if chat.returncode is None:
                    chat.kill()
                    await chat.wait()
    finally:
        await connection.aclose()
        await server.stop()
    assert chat.returncode == 0, err.decode()
    flat = " ".join(out.decode().split())
    assert "Waiting for another Pagemind process (pid 4242 on other-host)" in flat, flat
    assert re.search(r"its lease runs out in [1-4] s", flat), flat
    assert "echo ana: hello?" in flat, "answered once the lease ran out"
    assert flat.index("Waiting for") < flat.index("echo ana: hello?")


class Chat:
    """A ``pagemind chat`` in its own process, typed into line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.out = ""
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, env: dict[str, str], agent: str, cwd: Path) -> Chat:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bots.cli", "chat", "--agent", agent,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env={**env, "PYTHONUNBUFFERED": "1"},
            cwd=str(cwd), preexec_fn=die_with_parent,
        )  # fmt: skip
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while chunk := await self.process.stdout.read(4096):
            self.out += chunk.decode(errors="replace")

    async def say(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())
        await self.process.stdin.drain()

    async def shows(self, text: str, timeout: float = 60) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while text not in " ".join(self.out.split()):
            if asyncio.get_running_loop().time() > deadline or self._reader.done():
                raise AssertionError(f"never showed {text!r}:\n{self.out[-3000:]}")
            await asyncio.sleep(0.05)

    async def exit(self) -> int:
        await self.say("/exit")
        code = await asyncio.wait_for(self.process.wait(), 60)
        await self._reader
        return code


async def test_two_chats_on_one_data_directory_outlive_each_other(tmp_path: Path) -> None:
    """Two terminals, two agents, one data directory: /exit in the one that started the
    database leaves the other chatting; a second chat on the same agent says the first
    answers there."""
    async with ScriptedOpenAIServer(default=echo) as llm:  # type: ignore[arg-type]
        env = clean_env(tmp_path, PAGEMIND_LLM_BASE_URL=llm.base_url, PAGEMIND_LLM_MODEL="scripted")
        ann = await Chat.start(env, "console:ann", tmp_path)
        bee = twin = None
        try:
            await ann.say("hello from ann")
            await ann.shows("echo ann: hello from ann")
            bee = await Chat.start(env, "console:bee", tmp_path)
            await bee.say("hello from bee")
            await bee.shows("echo bee: hello from bee")
            twin = await Chat.start(env, "console:ann", tmp_path)
            await twin.say("ann again, in a second terminal")
            await twin.shows("This agent is open in another Pagemind process")
            await ann.shows("echo ann: ann again, in a second terminal")  # answered there
            assert await twin.exit() == 0
            assert await ann.exit() == 0  # the process that started the database
            assert bee is not None
            await bee.say("still there?")
            await bee.shows("echo bee: still there?")
            assert await bee.exit() == 0
        finally:
            for chat in (ann, bee, twin):
                if chat is not None and chat.process.returncode is None:
                    chat.process.kill()
                    await chat.process.wait()
    for chat in (ann, bee, twin):
        assert chat is not None and "Traceback" not in chat.out, chat.out[-3000:]
