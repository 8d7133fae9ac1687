"""Checks that keep the architecture honest: import boundaries, typing, the network guard."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_boundaries_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run(
        [lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_package_is_strictly_typed() -> None:
    # no paths: mypy checks what ``[tool.mypy] files`` names, the whole package, strictly
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_linted() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "core",
            "adapters",
            "bots",
            "config",
            "bench",
            "tests",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_suite_refuses_connections_outside_loopback() -> None:
    from pytest_socket import SocketConnectBlockedError

    with (
        pytest.warns(UserWarning, match="10.255.255.1"),
        pytest.raises(SocketConnectBlockedError),
    ):
        socket.create_connection(("10.255.255.1", 80), timeout=1)
