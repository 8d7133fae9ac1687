"""``pagemind chat`` against bad input, a misbehaving model server and bad settings: a real
process, the real SDK, a scripted server. Nothing typed is lost, and every fault is one clear
line, never a traceback."""

from __future__ import annotations

import asyncio
import socket
import sys
import uuid
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from tests.e2e.test_cli_chat import clean_env
from tests.support.openai_server import ScriptedOpenAIServer, error_reply, tool_reply

# One line each: a Latin-1 byte, bytes that never start UTF-8, an encoded surrogate, an
# overlong slash, a code point past U+10FFFF, a cut-off character, a NUL.
BAD_LINES = [
    b"bad byte \xe9 here",
    b"\xff\xfe twice",
    b"surrogate \xed\xa0\x80 encoded",
    b"overlong \xc0\xaf slash",
    b"too high \xf4\x90\x80\x80 point",
    b"cut off \xe2\x82",
    b"nul \x00 inside",
]


async def run_bytes(
    args: list[str], env: dict[str, str], stdin: bytes, cwd: Path
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bots.cli", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env, cwd=str(cwd),
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(stdin), 120)
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


def model_env(tmp_path: Path, server: ScriptedOpenAIServer, **extra: str) -> dict[str, str]:
    return clean_env(
        tmp_path, PAGEMIND_LLM_BASE_URL=server.base_url, PAGEMIND_LLM_MODEL="scripted", **extra
    )


def user_texts(body: dict[str, Any]) -> list[str]:
    return [str(m["content"]) for m in body["messages"] if m["role"] == "user"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_no_byte_sequence_crashes_the_chat_or_loses_a_line(tmp_path: Path) -> None:
    typed = b"".join(line + b"\n" for line in [b"hello", *BAD_LINES, b"after the bad lines"])
    async with ScriptedOpenAIServer(default=tool_reply("send_message", {"message": "ok"})) as s:
        for strict in (False, True):  # a C/UTF-8-mode terminal, and one that decodes strictly
            data = tmp_path / f"data-{strict}"
            extra = {"PYTHONIOENCODING": "utf-8:strict"} if strict else {}
            before = len(s.requests)
            code, out, err = await run_bytes(
                ["chat", "--agent", "console:ana"],
                model_env(data, s, **extra),
                typed + b"/exit\n",
                tmp_path,
            )
            assert code == 0, err
            assert "Traceback" not in err + out
            bodies = [body for _, body in s.requests[before:]]
            assert len(bodies) == len(BAD_LINES) + 2, "every line reached the model"
            last = bodies[-1]["messages"]
            shown = " ".join(user_texts(bodies[-1]))
            assert "bad byte \ufffd here" in shown and "after the bad lines" in shown
            assert "nul \x00 inside" in shown
            assert last[-1]["content"].endswith("after the bad lines")

            # A new process on the same data: every line was stored.
            before = len(s.requests)
            code, _, err = await run_bytes(
                ["chat", "--agent", "console:ana"],
                model_env(data, s, **extra),
                b"still there?\n/exit\n",
                tmp_path,
            )
            assert code == 0, err
            restored = " ".join(user_texts(s.requests[before][1]))
            for line in BAD_LINES:
                readable = line.decode("utf-8", "replace").split()[0]
                assert readable in restored, f"{line!r} was not stored"


async def test_a_model_answer_that_is_not_json_loses_nothing(tmp_path: Path, nx_uri: str) -> None:
    database = f"faults_{uuid.uuid4().hex[:8]}"
    stored_before_the_call: list[list[str]] = []
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(nx_uri)

    async def look_then_break(body: dict[str, Any]) -> dict[str, Any]:
        found = client[database]["messages"].find({"agent": "console:ana"})
        stored_before_the_call.append([d["content"] async for d in found])
        return {"raw": "<html>this is not JSON</html>"}

    try:
        async with ScriptedOpenAIServer() as s:
            s.add(look_then_break)
            env = model_env(
                tmp_path, s, PAGEMIND_MONGODB_URI=nx_uri, PAGEMIND_MONGODB_DATABASE=database
            )
            code, out, err = await run_bytes(
                ["chat", "--agent", "console:ana"], env, b"my locker code is 4417\n/exit\n",
                tmp_path,
            )  # fmt: skip
            assert code == 0, err
            assert "Traceback" not in err + out
            assert stored_before_the_call == [["my locker code is 4417"]], (
                "the message is in recall before the model is called"
            )
            assert out.count("Sorry, I couldn't answer just now") == 1
            assert "Your message is saved" in out
            assert len(s.requests) == 1, "an unusable answer is not asked for again"

            s.add(
                tool_reply(
                    "conversation_search", {"query": "locker code", "request_heartbeat": True}
                ),
                tool_reply("send_message", {"message": "It is 4417."}),
            )
            code, out, err = await run_bytes(
                ["chat", "--agent", "console:ana"], env, b"what was my locker code?\n/exit\n",
                tmp_path,
            )  # fmt: skip
            assert code == 0, err
            result = s.requests[-1][1]["messages"][-1]["content"]
            assert "my locker code is 4417" in result, "conversation_search finds it"
            assert "agent> It is 4417." in out
    finally:
        await client.drop_database(database)
        await client.close()


async def test_a_capped_chain_ends_with_a_message_and_a_log_line(tmp_path: Path) -> None:
    garbage = [
        tool_reply("archival_memory_search", '{"query": "tea", "page": '),  # cut-off JSON
        tool_reply("no_such_function", {"x": 1}),
        tool_reply("conversation_search", {"query": 5, "page": "first"}),  # wrong types
        tool_reply("core_memory_append", {"label": "human"}),  # a missing argument
    ]
    endless = tool_reply(
        "core_memory_append",
        {"label": "human", "content": "again", "request_heartbeat": True},
    )
    async with ScriptedOpenAIServer(default=endless) as s:
        s.add(*garbage)
        code, out, err = await run_bytes(
            ["chat", "--agent", "console:ana"], model_env(tmp_path, s), b"do it all\n/exit\n",
            tmp_path,
        )  # fmt: skip
    assert code == 0, err
    assert len(s.requests) == 10, "the cap holds"
    assert "agent> Sorry, I couldn't finish working on that" in out
    (cap,) = [line for line in err.splitlines() if "step cap" in line]
    assert "agent=console:ana" in cap and "event=console:" in cap


async def test_a_rejected_key_stops_the_start_with_one_line(tmp_path: Path) -> None:
    async with ScriptedOpenAIServer() as s:
        s.models_reply = error_reply(401, "Incorrect API key provided: sk-wr***ng")
        code, out, err = await run_bytes(
            ["chat"], model_env(tmp_path, s, PAGEMIND_LLM_API_KEY="sk-wrong"), b"hi\n", tmp_path
        )
        assert code == 2
        assert err.strip().count("\n") == 0, err
        assert "rejected the API key (401" in err and "PAGEMIND_LLM_API_KEY" in err
        assert "sk-wrong" not in err + out and "Traceback" not in err
        assert s.requests == [], "no chat was started"

        # For a server that cannot answer the check, the flag skips it.
        s.add(tool_reply("send_message", {"message": "hello anyway"}))
        code, out, err = await run_bytes(
            ["chat", "--no-model-check"], model_env(tmp_path, s), b"hi\n/exit\n", tmp_path
        )
        assert code == 0, err
        assert "agent> hello anyway" in out


async def test_a_server_that_refuses_connections_stops_the_start(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    env = clean_env(tmp_path, PAGEMIND_LLM_BASE_URL=url, PAGEMIND_LLM_MODEL="m")
    code, _, err = await run_bytes(["chat"], env, b"hi\n", tmp_path)
    assert code == 2
    assert err.strip().count("\n") == 0, err
    assert f"cannot connect to the model server at {url}" in err and "Traceback" not in err


async def test_an_unknown_model_stops_the_start(tmp_path: Path) -> None:
    async with ScriptedOpenAIServer(models=["llama3.1:8b"], only_listed=True) as s:
        env = clean_env(tmp_path, PAGEMIND_LLM_BASE_URL=s.base_url, PAGEMIND_LLM_MODEL="llama9")
        code, _, err = await run_bytes(["chat"], env, b"hi\n", tmp_path)
    assert code == 2
    assert err.strip().count("\n") == 0, err
    assert "does not serve 'llama9'" in err and "It serves: llama3.1:8b" in err


async def test_pagemind_run_checks_the_model_server_too(tmp_path: Path) -> None:
    async with ScriptedOpenAIServer() as s:
        s.models_reply = error_reply(401, "invalid key")
        env = model_env(
            tmp_path,
            s,
            PAGEMIND_TELEGRAM_TOKEN="123:abc",
            PAGEMIND_TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{free_port()}",
        )
        code, _, err = await run_bytes(["run"], env, b"", tmp_path)
    assert code == 2
    assert "rejected the API key (401" in err and "Traceback" not in err


async def test_a_key_revoked_while_running_is_reported_as_such(tmp_path: Path) -> None:
    async with ScriptedOpenAIServer() as s:
        s.add(
            tool_reply("send_message", {"message": "hello"}),
            error_reply(401, "This API key has been revoked."),
        )
        code, out, err = await run_bytes(
            ["chat"], model_env(tmp_path, s), b"hi\nand now?\n/exit\n", tmp_path
        )
    assert code == 0, err
    assert "agent> hello" in out
    assert "refused my credentials" in out and "the language model is unavailable" not in out
    (line,) = [entry for entry in err.splitlines() if "rejected the API key (401" in entry]
    assert " ERROR " in line and "revoked" in line
    assert len(s.requests) == 2, "a rejected key is not retried"


async def test_a_malformed_mongodb_uri_is_one_line_with_the_password_masked(
    tmp_path: Path,
) -> None:
    uri = "mongodb://ana:p@ss-w0rd@127.0.0.1:27017/"  # an unescaped "@" in the password
    async with ScriptedOpenAIServer() as s:
        for args in (["chat"], ["ingest", str(tmp_path), "--agent", "telegram:user:1"]):
            code, out, err = await run_bytes(
                args, model_env(tmp_path, s, PAGEMIND_MONGODB_URI=uri), b"hi\n", tmp_path
            )
            assert code == 2, err
            assert err.strip().count("\n") == 0, err
            assert "PAGEMIND_MONGODB_URI" in err and "ana:***@" in err
            assert "p@ss" not in err + out and "w0rd" not in err + out
            assert "Traceback" not in err


async def test_model_output_that_is_not_valid_unicode_is_made_valid(tmp_path: Path) -> None:
    async with ScriptedOpenAIServer() as s:
        s.add(
            tool_reply(
                "core_memory_append",
                '{"label": "human", "content": "Likes caf\\udce9 au lait", '
                '"request_heartbeat": true}',
                content="thinking \ud83d",
            ),
            tool_reply("send_message", '{"message": "half an emoji \\ud83d here"}'),
        )
        env = model_env(tmp_path, s)
        code, out, err = await run_bytes(
            ["chat", "--agent", "console:ana"], env, b"I like cafe au lait\n/exit\n", tmp_path
        )
        assert code == 0, err
        assert "Traceback" not in err + out
        assert "agent> half an emoji \ufffd here" in out
        code, out, err = await run_bytes(
            ["chat", "--agent", "console:ana"], env, b"/memory\n/exit\n", tmp_path
        )
    assert code == 0, err
    assert "Likes caf\ufffd au lait" in out, "the edit was stored"
