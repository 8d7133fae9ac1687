"""``pagemind chat`` as a user runs it: a real process, the real SDK, a scripted server."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys

from tests.support.openai_server import ScriptedOpenAIServer, tool_reply

PAGEMIND = shutil.which("pagemind") or ""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGEMIND_", "OPENAI_"))}
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
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_chat_without_an_llm_says_what_to_set(tmp_path) -> None:
    code, out, err = await run(["chat"], clean_env(), cwd=str(tmp_path))
    assert code == 2
    assert (
        "OPENAI_API_KEY" in err and "PAGEMIND_LLM_BASE_URL" in err and "PAGEMIND_LLM_MODEL" in err
    )
    assert "Traceback" not in err + out


async def test_a_bad_setting_is_named_without_a_traceback(tmp_path) -> None:
    code, _, err = await run(
        ["chat"], clean_env(OPENAI_API_KEY="k", PAGEMIND_CONTEXT_WINDOW="lots"), cwd=str(tmp_path)
    )
    assert code == 2 and "PAGEMIND_CONTEXT_WINDOW='lots'" in err and "Traceback" not in err
    code, _, err = await run(
        ["chat"], clean_env(PAGEMIND_LLM_BASE_URL="http://127.0.0.1:1/v1"), cwd=str(tmp_path)
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
    assert "agent> Lovely to meet you, Ana!" in out
    assert "thinks: She told me her name." in out
    assert "calls core_memory_append" in out
    assert "Name: Ana, likes tea" in out.split("agent> Lovely to meet you, Ana!")[1], (
        "/memory shows the edited block"
    )
    assert len(server.requests) == 2
