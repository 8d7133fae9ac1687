"""Start an nx-27017 server for tests and benchmarks (a child process on a loopback port)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REAL_MONGODB_ENV = "PAGEMIND_TEST_MONGODB_URI"


def die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, however it dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def nx_server(data_dir: Path | None = None) -> Iterator[str]:
    """Run nx-27017 until the block exits; yields its URI."""
    owned = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="pagemind-nx-")) if owned else data_dir
    assert directory is not None
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "nx_27017.nx_27017",
            "--data-dir", str(directory / "db"), "--host", "127.0.0.1", "--port", str(port),
            "--log-file", str(directory / "nx.log"), "--pid-file", str(directory / "nx.pid"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"nx-27017 did not start; see {directory / 'nx.log'}"
                    ) from None
                time.sleep(0.05)
        yield f"mongodb://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if owned:
            shutil.rmtree(directory, ignore_errors=True)
