"""The operator API's modules are strictly typed too (until mypy strict covers the whole
package, as the house issue plans): the server, the client, the wiring and the new stores."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = [
    "adapters/http_api",
    "pagemind_client",
    "core/operator",
    "bots/api.py",
    "bots/keys.py",
    "adapters/inmemory/operator.py",
    "adapters/mongo/api_keys.py",
    "adapters/mongo/audit.py",
    "adapters/mongo/upload_jobs.py",
    "adapters/mongo/directory.py",
    "adapters/inmemory/memory_edits.py",
    "adapters/mongo/memory_edits.py",
]


def test_the_operator_api_is_strictly_typed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--strict",
         "--follow-imports=silent", *MODULES],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
