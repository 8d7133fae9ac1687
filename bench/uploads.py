"""What reading an uploaded file costs: a long PDF and a 21 MB text file.

Each file is loaded the way a user loads one, with ``pagemind ingest FILE --agent ...`` run as
its own process on a fresh data directory (the embedded nx-27017, no embedder: the default
configuration), timed from the start of the process to its exit, with the peak memory of that
process. Two more columns split the time: the parser alone on the same bytes in this process
(``adapters.documents.parse_document``, best of ``--repeat``), and the upload pipeline with
in-memory stores in this process, built by the composition root as ``pagemind ingest`` builds
it (``bots.bootstrap.ingestion``: parse, cut into passages, count tokens, store; no database),
which is what the unit tests used to time before these numbers moved here. A 1 KB file gives
the fixed cost of starting the command (Python, the embedded database, the indexes).

    python -m bench.uploads [--pages 200] [--megabytes 21] [--repeat 3]

Last line: pdf_pages=<n> pdf_parse_s=<x> pdf_ingest_s=<y> text_mb=<n> text_parse_s=<x>
text_ingest_s=<y> text_ingest_peak_mib=<z>
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from adapters.documents import parse_document
from bots.bootstrap import ingestion
from tests.support.agents import settings_for_tests
from tests.support.files import pdf_bytes

ROOT = Path(__file__).resolve().parents[1]
AGENT = "bench:user:1"
LINE = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor."


@dataclass
class Row:
    name: str
    size: int
    parse_s: float | None = None
    pipeline_s: float | None = None
    passages: int = 0
    ingest_s: float = 0.0
    peak_mib: float = 0.0


def long_pdf(pages: int) -> bytes:
    return pdf_bytes(
        ["\n".join(f"{p}.{n} {LINE}" for n in range(1, 41)) for p in range(1, pages + 1)]
    )


def prose(megabytes: float) -> bytes:
    sentence = b"The boat is called Maria. "
    return sentence * (int(megabytes * 2**20) // len(sentence) + 1)


def best_parse(data: bytes, name: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        parse_document(data, name, max_bytes=len(data))
        best = min(best, time.perf_counter() - started)
    return best


async def in_memory_pipeline(data: bytes, name: str) -> tuple[float, int]:
    """The upload pipeline on in-memory stores: seconds and passages stored."""
    settings = settings_for_tests(max_upload_mb=len(data) / 2**20 + 1)
    async with ingestion(settings) as loaded:
        started = time.perf_counter()
        result = await loaded.pipeline.ingest(AGENT, name, data)
        elapsed = time.perf_counter() - started
    if result.outcome != "stored":
        raise SystemExit(f"{name}: {result.message}")
    return elapsed, result.passages


def pagemind_ingest(path: Path, data_dir: Path) -> tuple[float, float, str]:
    """``pagemind ingest path`` in its own process: seconds, peak MiB and its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGEMIND_", "OPENAI_"))}
    megabytes = path.stat().st_size / 2**20
    env |= {
        "PAGEMIND_DATA_DIR": str(data_dir),
        "PAGEMIND_MAX_UPLOAD_MB": str(max(20, int(megabytes) + 1)),
        "COLUMNS": "200",
    }
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "bots.cli", "ingest", str(path), "--agent", AGENT],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read().decode(errors="replace")
    if process.returncode != 0 or "Stored" not in output:
        raise SystemExit(f"pagemind ingest {path.name} failed:\n{output[-3000:]}")
    return elapsed, usage.ru_maxrss / 1024, output  # ru_maxrss is in KiB on Linux


async def measure(name: str, data: bytes, repeat: int, work: Path, *, timed: bool) -> Row:
    print(f"  {name}: measuring...", file=sys.stderr, flush=True)
    row = Row(name, len(data))
    if timed:
        row.parse_s = best_parse(data, name, repeat)
        row.pipeline_s, row.passages = await in_memory_pipeline(data, name)
    path = work / name
    path.write_bytes(data)
    row.ingest_s, row.peak_mib, output = pagemind_ingest(path, work / f"data-{name}")
    stored = re.search(r'Stored "[^"]+": ([\d,]+) passage', output)
    if stored is None or (timed and int(stored.group(1).replace(",", "")) != row.passages):
        raise SystemExit(f"{name}: the command and the pipeline disagree:\n{output[-2000:]}")
    row.passages = int(stored.group(1).replace(",", ""))
    return row


def size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB"


def seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def report(rows: list[Row], opts: argparse.Namespace) -> None:
    print(
        f"pagemind ingest on a fresh data directory (embedded nx-27017, no embedder); parser "
        f"best of {opts.repeat}; Python {sys.version.split()[0]}, {os.cpu_count()} cores"
    )
    print()
    print(
        "| file | size | parse only (s) | pipeline, in-memory stores (s) | passages "
        "| pagemind ingest (s) | its peak RSS (MiB) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.name} | {size(r.size)} | {seconds(r.parse_s)} | {seconds(r.pipeline_s)} "
            f"| {r.passages:,} | {r.ingest_s:.2f} | {r.peak_mib:.0f} |"
        )
    print()


def summary(pdf: Row, text: Row, opts: argparse.Namespace) -> str:
    return (
        f"pdf_pages={opts.pages} pdf_parse_s={pdf.parse_s:.2f} pdf_ingest_s={pdf.ingest_s:.2f} "
        f"text_mb={opts.megabytes:g} text_parse_s={text.parse_s:.2f} "
        f"text_ingest_s={text.ingest_s:.2f} text_ingest_peak_mib={text.peak_mib:.0f}"
    )


async def main(opts: argparse.Namespace) -> None:
    files = {
        "small.txt": (b"The boat is called Maria.\n" * 40, False),
        f"book-{opts.pages}p.pdf": (long_pdf(opts.pages), True),
        f"prose-{opts.megabytes:g}mb.txt": (prose(opts.megabytes), True),
    }
    with tempfile.TemporaryDirectory(prefix="bench-uploads-") as tmp:
        rows = [
            await measure(name, data, opts.repeat, Path(tmp), timed=timed)
            for name, (data, timed) in files.items()
        ]
    report(rows, opts)
    print(summary(rows[1], rows[2], opts))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pages", type=int, default=200, help="pages of the PDF")
    parser.add_argument("--megabytes", type=float, default=21.0, help="size of the text file")
    parser.add_argument("--repeat", type=int, default=3, help="parser runs, best taken")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
