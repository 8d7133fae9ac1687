"""What ``pagemind run`` writes to the operator's log: message bodies only at DEBUG, whatever
a library does with its own loggers. A real process, Slack in HTTP mode against the fake."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

from tests.e2e.test_run_service import wait_for_log
from tests.support.fakes.slack import FakeSlack
from tests.support.openai_server import ScriptedOpenAIServer

ROOT = Path(__file__).resolve().parents[2]
SECRET = "my diary: the safe code is 7731"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_refused_slack_requests_never_put_their_body_in_the_log(tmp_path: Path) -> None:
    port = free_port()
    async with FakeSlack() as slack, ScriptedOpenAIServer() as llm:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGEMIND_", "OPENAI_"))}
        env.update(
            PAGEMIND_SLACK_BOT_TOKEN=slack.bot_token,
            PAGEMIND_SLACK_MODE="http",
            PAGEMIND_SLACK_SIGNING_SECRET=slack.signing_secret,
            PAGEMIND_SLACK_HTTP_LISTEN="127.0.0.1",
            PAGEMIND_SLACK_HTTP_PORT=str(port),
            PAGEMIND_SLACK_API_BASE_URL=slack.api_url,
            PAGEMIND_LLM_BASE_URL=llm.base_url,
            PAGEMIND_LLM_MODEL="scripted",
            PAGEMIND_STORAGE="memory",
            PAGEMIND_DATA_DIR=str(tmp_path),
            PAGEMIND_LOG_LEVEL="INFO",
            PAGEMIND_API_PORT="0",
        )
        log = tmp_path / "run.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bots.cli", "run",
                cwd=ROOT, env=env, stdout=out, stderr=out,
            )  # fmt: skip
        try:
            await wait_for_log(log, "slack: started", process)
            url = f"http://127.0.0.1:{port}/slack/events"
            event = slack.message_event(SECRET, channel="D0DM000001", channel_type="im")
            forged = await slack.post_event(url, slack.event_callback(event), bad_signature=True)
            stale = await slack.post_event(url, slack.event_callback(event), stale=True)
            assert (forged.status, stale.status) == (401, 401)  # answered: the requests are done
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    written = log.read_text(errors="replace")
    assert "Pagemind is running: slack" in written, "INFO lines are logged"
    assert "safe code" not in written and "7731" not in written, written[-2000:]
