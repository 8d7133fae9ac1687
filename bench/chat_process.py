"""``bench.end_to_end``'s memory run: a real ``pagemind chat`` process, and so its embedded
nx-27017, fed the conversation through a pipe; the peak resident set of both. Also the
environment a user would set, and the embedded server's process id."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.model_process import MODEL, ModelProcess


def bench_env(base_url: str, data_dir: Path, storage: str) -> dict[str, str]:
    """The environment a user would set (and nothing else of the caller's PAGEMIND_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGEMIND_", "OPENAI_"))}
    env.update(
        {
            "PAGEMIND_LLM_BASE_URL": base_url,
            "PAGEMIND_LLM_API_KEY": "bench-key",
            "PAGEMIND_LLM_MODEL": MODEL,
            "PAGEMIND_CONTEXT_WINDOW": "128000",
            "PAGEMIND_DATA_DIR": str(data_dir),
            "PAGEMIND_STORAGE": "mongodb" if storage == "nx" else "memory",
            "PAGEMIND_WORKER_NAME": "bench",
        }
    )
    return env


def server_pid(data_dir: Path) -> int:
    """The embedded nx-27017's process id (0 if none runs for ``data_dir``)."""
    info = data_dir / "mongo" / "server.json"
    if not info.exists():
        return 0
    doc = json.loads(info.read_text())
    return int((doc.get("process") or doc)["pid"])  # {"process": {"pid": ...}} since issue 10


def _status(pid: int) -> dict[str, int]:
    try:
        with open(f"/proc/{pid}/status") as f:
            return {
                k: int(v.split()[0])
                for k, v in (line.split(":", 1) for line in f)
                if k in ("VmRSS", "VmHWM")
            }
    except (OSError, ValueError):
        return {}


@dataclass
class ChatMemory:
    chat_peak_kib: int = 0
    server_peak_kib: int = 0
    sampled_peak_kib: int = 0
    replies: int = 0
    seconds: float = 0.0
    answered: list[float] = field(default_factory=list)  # the start, then each reply's time
    served: list[tuple[float, float]] = field(default_factory=list)  # the model server's
    own_ms: list[float] = field(default_factory=list)  # filled by the caller

    @property
    def peak_mib(self) -> float:
        return (self.chat_peak_kib + self.server_peak_kib) / 1024


async def chat_memory(texts: list[str]) -> ChatMemory:
    """Run ``pagemind chat`` (and so its embedded nx-27017) on the conversation, fed through
    a pipe, and take both processes' peak RSS once every message is answered."""
    result = ChatMemory()
    script = Path(sys.executable).with_name("pagemind")
    command = (
        [str(script), "chat"] if script.exists() else [sys.executable, "-m", "bots.cli", "chat"]
    )
    with tempfile.TemporaryDirectory(prefix="pagemind-bench-chat-") as tmp:
        async with ModelProcess() as model:
            env = bench_env(model.base_url, Path(tmp), "nx")
            env["COLUMNS"] = "10000"  # one reply, one line
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=tmp,
            )
            assert process.stdin and process.stdout and process.stderr
            server = 0
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.1):
                    total = _status(process.pid).get("VmRSS", 0)
                    if server:
                        total += _status(server).get("VmRSS", 0)
                    result.sampled_peak_kib = max(result.sampled_peak_kib, total)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            started = time.monotonic()
            lines = "".join(" ".join(t.split()) + "\n" for t in texts)
            process.stdin.write(lines.encode())
            await process.stdin.drain()
            answered: list[float] = [started]
            while result.replies < len(texts):
                line = await asyncio.wait_for(process.stdout.readline(), 120)
                if not line:
                    break
                if not server:
                    server = server_pid(Path(tmp))
                if b"agent>" in line:
                    result.replies += 1
                    answered.append(time.monotonic())
            result.seconds = time.monotonic() - started
            result.chat_peak_kib = _status(process.pid).get("VmHWM", 0)
            result.server_peak_kib = _status(server).get("VmHWM", 0) if server else 0
            done.set()
            sampler.join()
            process.stdin.write(b"/exit\n")
            process.stdin.close()
            stderr = await process.stderr.read()
            await process.wait()
            if result.replies < len(texts):
                raise RuntimeError(
                    f"pagemind chat answered {result.replies} of {len(texts)}: "
                    f"{stderr.decode(errors='replace')[-2000:]}"
                )
            result.served = await model.served()
        result.answered = answered
    return result
