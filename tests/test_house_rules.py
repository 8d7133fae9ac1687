"""Checks that keep the architecture honest: import boundaries, typing, the network guard."""

from __future__ import annotations

import ast
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


MODULE_LINES, CLASS_LINES = 400, 250  # a newcomer reads a core module or class in one go


def test_core_modules_and_classes_stay_small() -> None:
    over = []
    for path in sorted((ROOT / "core").rglob("*.py")):
        source = path.read_text()
        name, lines = str(path.relative_to(ROOT)), source.count("\n")
        if lines > MODULE_LINES:
            over.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                size = node.end_lineno - node.lineno + 1
                if size > CLASS_LINES:
                    over.append(f"{name}: class {node.name} is {size} lines")
    assert not over, "split these by idea:\n" + "\n".join(over)


def test_the_suite_refuses_connections_outside_loopback() -> None:
    from pytest_socket import SocketConnectBlockedError

    with (
        pytest.warns(UserWarning, match="10.255.255.1"),
        pytest.raises(SocketConnectBlockedError),
    ):
        socket.create_connection(("10.255.255.1", 80), timeout=1)
