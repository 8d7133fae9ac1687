"""``pagemind run`` as a real process: a platform conversation, then a graceful stop."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.fakes.telegram import FakeTelegram
from tests.support.openai_server import ScriptedOpenAIServer, tool_reply

ROOT = Path(__file__).resolve().parents[2]


def service_env(
    tg: FakeTelegram, llm: ScriptedOpenAIServer, data: Path, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGEMIND_", "OPENAI_"))}
    env.update(
        PAGEMIND_TELEGRAM_TOKEN="123456:TEST",
        PAGEMIND_TELEGRAM_API_BASE_URL=tg.api_base.removesuffix("/bot"),
        PAGEMIND_TELEGRAM_POLL_TIMEOUT="1",
        PAGEMIND_LLM_BASE_URL=llm.base_url,
        PAGEMIND_LLM_MODEL="scripted",
        PAGEMIND_DATA_DIR=str(data),
        PAGEMIND_INBOX_POLL_SECONDS="0.2",
        PAGEMIND_API_PORT="0",  # the operator API on any free port
        PTB_TIMEDELTA="1",
        **extra,
    )
    return env


async def wait_for_log(
    log: Path, text: str, process: asyncio.subprocess.Process, timeout: float = 60
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while text not in log.read_text(errors="replace"):
        if process.returncode is not None or asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{text!r} never logged:\n{log.read_text()[-3000:]}")
        await asyncio.sleep(0.05)


async def start_run(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """``pagemind run`` as a real process, once Telegram is started (output in ``log``)."""
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bots.cli", "run",
            cwd=ROOT, env=env, stdout=out, stderr=out,
        )  # fmt: skip
    try:
        await wait_for_log(log, "telegram: started", process)
    except BaseException:
        process.kill()
        await process.wait()
        raise
    return process


async def test_run_answers_on_telegram_and_stops_gracefully_mid_turn(tmp_path: Path) -> None:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow(body: dict) -> dict:
        arrived.set()
        await release.wait()
        return tool_reply("send_message", {"message": "Finished before stopping."})

    async with FakeTelegram() as tg, ScriptedOpenAIServer() as llm:
        llm.add(tool_reply("send_message", {"message": "Hello from Pagemind!"}), slow)
        log = tmp_path / "run.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bots.cli", "run",
                cwd=ROOT, env=service_env(tg, llm, tmp_path), stdout=out, stderr=out,
            )  # fmt: skip
        try:
            await wait_for_log(log, "telegram: started", process)
            assert "Pagemind is running: telegram" in log.read_text()
            tg.push_private_message("hi there")
            first = await tg.wait_for(lambda c: c.method == "sendMessage", timeout=30)
            assert first.params["text"] == "Hello from Pagemind!"

            tg.push_private_message("a slow question")
            await asyncio.wait_for(arrived.wait(), 30)
            process.send_signal(signal.SIGTERM)  # the turn is under way
            await wait_for_log(log, "stopping: finishing the turns under way", process)
            release.set()
            code = await asyncio.wait_for(process.wait(), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        texts = [m["text"] for m in tg.sent_messages()]
        assert texts == ["Hello from Pagemind!", "Finished before stopping."], log.read_text()[
            -3000:
        ]
        assert code == 0, log.read_text()[-3000:]
        assert "stopped" in log.read_text()


async def test_a_turn_longer_than_the_grace_period_is_cut_off_and_resumed_next_start(
    tmp_path: Path,
) -> None:
    arrived, end_of_test = asyncio.Event(), asyncio.Event()

    async def hung(body: dict) -> dict:
        arrived.set()
        await end_of_test.wait()  # the model does not answer while the test runs
        return tool_reply("send_message", {"message": "nobody is listening any more"})

    async with FakeTelegram() as tg, ScriptedOpenAIServer() as llm:
        llm.add(hung, tool_reply("send_message", {"message": "Answered after the restart."}))
        env = service_env(tg, llm, tmp_path, PAGEMIND_SHUTDOWN_GRACE_SECONDS="1")
        for attempt in ("first", "second"):
            log = tmp_path / f"{attempt}.log"
            process = await start_run(env, log)
            try:
                if attempt == "first":
                    tg.push_private_message("a question the model hangs on")
                    await asyncio.wait_for(arrived.wait(), 30)
                    process.send_signal(signal.SIGTERM)
                    code = await asyncio.wait_for(process.wait(), 30)
                    assert code == 143, log.read_text()[-3000:]  # 128 + SIGTERM: work left
                    assert "grace period over" in log.read_text()
                    assert "stopped with 1 event(s) unfinished" in log.read_text()
                else:
                    sent = await tg.wait_for(lambda c: c.method == "sendMessage", timeout=30)
                    assert sent.params["text"] == "Answered after the restart."
                    process.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(process.wait(), 30)
            finally:
                end_of_test.set()
                if process.returncode is None:
                    process.kill()
                    await process.wait()


async def test_sigterm_starts_no_new_turn_and_the_next_start_answers_what_was_queued(
    tmp_path: Path,
) -> None:
    """Three messages for one agent; SIGTERM while the first is with the model: the other
    two are not started (the model is asked nothing more), the first finishes, the process
    exits with 143 (work was left), and the next start answers the two, in order."""
    arrived, release = asyncio.Event(), asyncio.Event()
    asked: list[str] = []

    async def answer(body: dict) -> dict:
        last = str(body["messages"][-1]["content"])
        asked.append(last)
        if "first" in last:
            arrived.set()
            await release.wait()
        return tool_reply("send_message", {"message": f"re: {last.split('] ', 1)[-1]}"})

    async with FakeTelegram() as tg, ScriptedOpenAIServer(default=answer) as llm:  # type: ignore[arg-type]
        env = service_env(tg, llm, tmp_path)
        for attempt in ("first", "second"):
            log = tmp_path / f"{attempt}.log"
            process = await start_run(env, log)
            try:
                if attempt == "first":
                    for text in ("first", "second", "third"):
                        tg.push_private_message(text)
                    await asyncio.wait_for(arrived.wait(), 30)
                    await tg.wait_for(lambda c: not tg.pending_updates, timeout=30)
                    process.send_signal(signal.SIGTERM)
                    await wait_for_log(log, "stopping: finishing the turns under way", process)
                    release.set()
                    code = await asyncio.wait_for(process.wait(), 60)
                    assert code == 143, log.read_text()[-3000:]
                    assert "stopped with 2 event(s) unfinished" in log.read_text()
                    assert len(asked) == 1, "no turn started after SIGTERM"
                else:
                    await tg.wait_for(lambda c: len(tg.sent_messages()) >= 3, timeout=60)
                    process.send_signal(signal.SIGTERM)
                    assert await asyncio.wait_for(process.wait(), 60) == 0
            finally:
                release.set()
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    texts = [m["text"].split(": ", 1)[-1] for m in tg.sent_messages()]
    assert [t.rsplit(" ", 1)[-1] for t in texts] == ["first", "second", "third"], texts


async def test_run_without_any_platform_serves_the_operator_api_alone(tmp_path: Path) -> None:
    async with ScriptedOpenAIServer() as llm:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGEMIND_", "OPENAI_"))}
        env.update(
            PAGEMIND_LLM_BASE_URL=llm.base_url,
            PAGEMIND_LLM_MODEL="scripted",
            PAGEMIND_DATA_DIR=str(tmp_path),
            PAGEMIND_API_PORT="0",
        )
        log = tmp_path / "run.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bots.cli", "run", cwd=ROOT, env=env, stdout=out, stderr=out,
            )  # fmt: skip
        try:
            await wait_for_log(log, "Pagemind is running: the operator API at http://", process)
            text = log.read_text()
            assert "serving the operator API only" in text and "PAGEMIND_TELEGRAM_TOKEN" in text
            url = text.split("the operator API at ", 1)[1].split(";", 1)[0]
            async with httpx.AsyncClient(base_url=url) as http:
                assert (await http.get("/healthz")).json()["status"] == "ok"
                assert (await http.get("/api/agents")).status_code == 401
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 60) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert "Traceback" not in log.read_text()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PAGEMIND_CHECKIN_QUIET_HOURS", "late", "quiet hours look like 22:00-08:00"),
        ("PAGEMIND_CHECKIN_DEFAULT_CRON", "0 9 * *", "not a cron schedule"),
    ],
)
async def test_a_bad_check_in_setting_is_reported_at_start(
    tmp_path: Path, name: str, value: str, expected: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGEMIND_", "OPENAI_"))}
    env.update(
        OPENAI_API_KEY="k", PAGEMIND_STORAGE="memory", PAGEMIND_DATA_DIR=str(tmp_path),
        PAGEMIND_TELEGRAM_TOKEN="1:x", PAGEMIND_TELEGRAM_API_BASE_URL="http://127.0.0.1:9",
        **{name: value},
    )  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bots.cli", "run", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2, err.decode()[-2000:]
    assert expected in err.decode() and "Traceback" not in err.decode()
