"""What wiring the service holds before anyone uses it: ``pagemind chat`` and ``pagemind run``
pay for the document parsers (pypdf, python-docx, lxml: about 30 MiB resident) only once a
file arrives. Checked in a fresh interpreter, since this test process imports them anyway."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PARSERS = ("pypdf", "docx", "lxml")

SCRIPT = f"""
import json, sys
from bots.bootstrap import wire
from bots.storage import memory_storage
from tests.support.agents import settings_for_tests
from tests.support.scripted import ScriptedModel

svc = wire(settings_for_tests(), storage=memory_storage(), model=ScriptedModel())
wired = sorted(m for m in {PARSERS!r} if m in sys.modules)
parsed = svc.uploads.parser(b"tea with Ana on Sunday", "notes.txt", max_bytes=1000)
print(json.dumps({{"wired": wired, "text": " ".join(s.text for s in parsed.sections)}}))
"""


def test_wiring_the_service_loads_no_document_parser_until_a_file_arrives() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["wired"] == []
    assert "tea with Ana on Sunday" in result["text"]
