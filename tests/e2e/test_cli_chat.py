"""``pagemind chat`` as a user runs it: a real process, the real SDK, a scripted server."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

from tests.support.openai_server import ScriptedOpenAIServer, tool_reply

PAGEMIND = shutil.which("pagemind") or ""


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGEMIND_", "OPENAI_"))}
    env["PAGEMIND_DATA_DIR"] = str(data_dir)
    env.update(extra)
    env["COLUMNS"] = "200"
    return env


async def run(
    args: list[str], env: dict[str, str], stdin: str = "", cwd: str | None = None
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bots.cli",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(
            f"pagemind {args} did not exit:\n{out.decode()}\n{err.decode()}"
        ) from None
    return proc.returncode or 0, out.decode(), err.decode()


async def test_chat_without_an_llm_says_what_to_set(tmp_path) -> None:
    code, out, err = await run(["chat"], clean_env(tmp_path), cwd=str(tmp_path))
    assert code == 2
    assert (
        "OPENAI_API_KEY" in err and "PAGEMIND_LLM_BASE_URL" in err and "PAGEMIND_LLM_MODEL" in err
    )
    assert "Traceback" not in err + out


async def test_a_bad_setting_is_named_without_a_traceback(tmp_path) -> None:
    code, _, err = await run(
        ["chat"],
        clean_env(tmp_path, OPENAI_API_KEY="k", PAGEMIND_CONTEXT_WINDOW="lots"),
        cwd=str(tmp_path),
    )
    assert code == 2 and "PAGEMIND_CONTEXT_WINDOW='lots'" in err and "Traceback" not in err
    code, _, err = await run(
        ["chat"],
        clean_env(tmp_path, PAGEMIND_LLM_BASE_URL="http://127.0.0.1:1/v1"),
        cwd=str(tmp_path),
    )
    assert code == 2 and "PAGEMIND_LLM_MODEL is not set" in err and "Traceback" not in err


async def test_chat_session_with_memory_and_calls_shown(tmp_path) -> None:
    async with ScriptedOpenAIServer() as server:
        server.add(
            tool_reply(
                "core_memory_append",
                {"label": "human", "content": "Name: Ana, likes tea", "request_heartbeat": True},
                content="She told me her name.",
            ),
            tool_reply("send_message", {"message": "Lovely to meet you, Ana!"}),
        )
        env = clean_env(
            tmp_path,
            OPENAI_BASE_URL=server.base_url,  # the standard variables work too
            OPENAI_API_KEY="test",
            PAGEMIND_LLM_MODEL="scripted",
        )
        code, out, err = await run(
            ["chat", "--show-calls", "--agent", "console:ana"],
            env,
            "I'm Ana and I like tea\n/memory\n/exit\n",
            cwd=str(tmp_path),
        )
    assert code == 0, err
    assert "Traceback" not in err and "CancelledError" not in err, err
    assert "agent> Lovely to meet you, Ana!" in out
    assert "thinks: She told me her name." in out
    assert "calls core_memory_append" in out
    assert "Name: Ana, likes tea" in out.split("agent> Lovely to meet you, Ana!")[1], (
        "/memory shows the edited block"
    )
    assert len(server.requests) == 2


async def test_chat_remembers_across_restarts(tmp_path) -> None:
    """Quit, start again: working context, recall and archival memory are all still there."""
    async with ScriptedOpenAIServer() as server:
        env = clean_env(
            tmp_path,
            PAGEMIND_LLM_BASE_URL=server.base_url,
            PAGEMIND_LLM_MODEL="scripted",
            PAGEMIND_EMBEDDING_MODEL="scripted-embed",  # semantic archival search on
        )
        server.add(
            tool_reply(
                "core_memory_append",
                {"label": "human", "content": "Name: Ana", "request_heartbeat": True},
            ),
            tool_reply(
                "archival_memory_insert",
                {"content": "Ana's sister is called Rui", "request_heartbeat": True},
            ),
            tool_reply("send_message", {"message": "Noted!"}),
        )
        code, out, err = await run(
            ["chat"], env, "I'm Ana; my sister is Rui\n/exit\n", cwd=str(tmp_path)
        )
        assert code == 0, err
        assert "agent> Noted!" in out
        server.add(
            tool_reply("archival_memory_search", {"query": "sister", "request_heartbeat": True}),
            tool_reply("send_message", {"message": "Your sister is Rui."}),
        )
        code, out, err = await run(
            ["chat"], env, "/memory\nwho is my sister?\n/exit\n", cwd=str(tmp_path)
        )
    assert code == 0, err
    assert "Name: Ana" in out, "working context survived the restart"
    assert "agent> Your sister is Rui." in out
    second_session = server.requests[3][1]["messages"]
    assert any("I'm Ana; my sister is Rui" in str(m.get("content")) for m in second_session), (
        "recall"
    )
    search_result = server.requests[4][1]["messages"][-1]["content"]
    assert "Ana's sister is called Rui" in search_result, "archival memory survived the restart"
    assert (tmp_path / "mongo" / "db").is_dir()
    embedded = [text for body in server.embedding_requests for text in body["input"]]
    assert "Ana's sister is called Rui" in embedded and "sister" in embedded, "stored and queried"
    assert all(body["model"] == "scripted-embed" for body in server.embedding_requests)


async def test_ctrl_c_stops_a_busy_chat_and_the_next_start_answers_what_was_left(
    tmp_path,
) -> None:
    """400 lines piped into the chat; Ctrl-C while the model works on the 10th. No new turn
    starts; the one under way is cancelled after the grace period (1 s here); the chat says
    so and exits with 130; the next start answers that message."""
    hung, end_of_test = asyncio.Event(), asyncio.Event()

    async def answer(body: dict) -> dict:
        last = str(body["messages"][-1]["content"])
        if "line 9 " in last + " " and not end_of_test.is_set():
            hung.set()
            await end_of_test.wait()  # the model never answers this one while the chat runs
        return tool_reply("send_message", {"message": f"echo {last.split('] ', 1)[-1]}"})

    async with ScriptedOpenAIServer(default=answer) as server:  # type: ignore[arg-type]
        env = clean_env(
            tmp_path,
            PAGEMIND_LLM_BASE_URL=server.base_url,
            PAGEMIND_LLM_MODEL="scripted",
            PAGEMIND_SHUTDOWN_GRACE_SECONDS="1",
        )
        lines = "".join(f"line {i}\n" for i in range(400))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bots.cli", "chat",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, cwd=str(tmp_path),
        )  # fmt: skip
        assert proc.stdin is not None
        proc.stdin.write(lines.encode())
        await proc.stdin.drain()
        try:
            await asyncio.wait_for(hung.wait(), 60)
            proc.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        asked = [str(body["messages"][-1]["content"]) for _, body in server.requests]
        assert proc.returncode == 130, err.decode()[-2000:]
        assert len(asked) == 10 and "line 9" in asked[-1], "no turn started after Ctrl-C"
        assert "line 8\n" in out.decode() and "line 9" not in out.decode()
        assert "1 message(s) not answered yet" in out.decode()
        assert "Traceback" not in err.decode() + out.decode()

        end_of_test.set()
        code, out2, err2 = await run(["chat"], env, "/exit\n", cwd=str(tmp_path))
    assert code == 0, err2
    assert "line 9\n" in out2, "the message left over is answered at the next start"
    assert "Traceback" not in err2 + out2
