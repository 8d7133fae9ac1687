"""`bench.platform_load`'s tables and its summary line."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from bench.platform_measure import STAGES, Result

if TYPE_CHECKING:
    from bench.platform_load import Options


def pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def table(header: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


def report(opts: Options, results: list[Result]) -> None:
    names = [f"{r.storage} / {r.platform}" for r in results]
    print(
        f"{opts.users:,} users x {opts.messages} messages per platform, open loop "
        + (f"paced at {opts.rate:g} messages/s" if opts.rate > 0 else "(all offered at once)")
        + f"; Slack POSTs in flight <= {opts.concurrency}; Telegram flood control "
        + ("kept (30 messages/s)" if opts.flood_control else "lifted")
        + f"; zero-latency scripted model; max_concurrent_turns {opts.turns}"
        + (" (the default)." if opts.turns == 8 else ".")
    )
    print()
    rows = []
    for name, r in zip(names, results, strict=True):
        lat = r.latencies_ms
        accepted_late, seen_late, reply_late = r.order_violations()
        rows.append(
            [
                name,
                f"{len(r.sent):,}",
                f"{r.msgs_per_s:.1f}",
                f"{pct(lat, 50):.0f} / {pct(lat, 95):.0f} / {pct(lat, 99):.0f}",
                f"{max(lat, default=float('nan')):.0f}",
                str(r.lost) + (f" ({r.timed_out})" if r.timed_out else ""),
                f"{r.duplicated} / {r.reprocessed} / {r.rehandled}",
                f"{accepted_late} / {seen_late} / {reply_late}",
                str(r.strays),
                f"{r.wall:.1f} / {r.offered_in:.1f} / {r.first_reply:.1f}",
            ]
        )
    table(
        [
            "storage / platform",
            "messages",
            "msgs_per_s",
            "reply latency p50 / p95 / p99 (ms)",
            "max (ms)",
            "lost",
            "duplicated: replies / model / handled",
            "out of order: accepted / model / replies",
            "other replies",
            "s: wall / offering / first reply",
        ],
        rows,
    )

    print("Reply latency by stage, p50 / p95 / p99 ms (from the same timestamps):")
    print()
    stages = [r.stages() for r in results]
    rows = [
        [label, *(" / ".join(f"{pct(st[label], q):.0f}" for q in (50, 95, 99)) for st in stages)]
        for label in STAGES
    ]
    table(["stage", *names], rows)

    print("Where the time goes (per user message; CPU as a share of the run's wall time, the")
    print("machine has 2 cores = 200%):")
    print()
    rows = []
    for label, get in [
        ("this process CPU (service + adapter + fake)", lambda r: _share(r.cpu_self, r)),
        ("nx-27017 process CPU", lambda r: _share(r.cpu_db, r) if r.cpu_db else "-"),
        ("other processes on the machine, CPU", lambda r: _share(r.cpu_others, r)),
        ("inside the model, µs", lambda r: f"{r.model_seconds / _n(r) * 1e6:.0f}"),
        ("database round trips", lambda r: _per(sum(r.db.commands.values()), r)),
        (
            "database time, ms (driver-side, overlapping)",
            lambda r: f"{sum(r.db.micros.values()) / 1000 / _n(r):.2f}" if r.db.micros else "-",
        ),
    ]:
        rows.append([label, *(get(r) for r in results)])
    table(["measure", *names], rows)

    commands = sorted({c for r in results for c in r.db.commands})
    if commands:
        rows = [
            [c, *(_command(r, c) for r in results)]
            for c in commands
            if sum(r.db.commands[c] for r in results) >= min(_n(r) for r in results) * 0.01
        ]
        print("Database commands per user message x mean driver-side ms (>= 0.01 per message):")
        print()
        table(["command collection", *names], rows)

    methods = sorted({m for r in results for m in r.api_calls})
    rows = [[m, *(_per(r.api_calls[m], r) for r in results)] for m in methods]
    print("Platform API calls per user message (as the fake recorded them):")
    print()
    table(["call", *names], rows)

    owners = sorted(
        {o for r in results for o in r.samples},
        key=lambda o: -sum(r.samples[o] / max(sum(r.samples.values()), 1) for r in results),
    )
    if owners:
        rows = [
            [o, *(f"{100 * r.samples[o] / max(sum(r.samples.values()), 1):.0f}%" for r in results)]
            for o in owners
        ]
        rows.append(
            ["CPU samples (py-spy, 100 Hz)", *(str(sum(r.samples.values())) for r in results)]
        )
        print("CPU of this process by owner (py-spy; innermost frame that is ours, a platform")
        print("library's or a fake's; generic libraries count for their caller):")
        print()
        table(["owner", *names], rows)

    logged = sorted(
        {m for r in results for m in r.logs}, key=lambda m: -max(r.logs[m] for r in results)
    )
    if logged:
        print("Logged during the runs (count per run; Pagemind's INFO and up, typing failures):")
        print()
        rows = [[m.replace("|", "/"), *(str(r.logs[m]) for r in results)] for m in logged[:14]]
        table(["message", *names], rows)


def _command(r: Result, command: str) -> str:
    count = r.db.commands[command]
    if not count:
        return "-"
    return f"{count / _n(r):.2f} x {r.db.micros[command] / count / 1000:.1f}"


def _n(r: Result) -> int:
    return max(len(r.sent), 1)


def _per(count: int, r: Result) -> str:
    return f"{count / _n(r):.2f}"


def _share(seconds: float, r: Result) -> str:
    return f"{seconds:.1f} s ({100 * seconds / max(r.elapsed, 1e-9):.0f}%)"


def summary(results: list[Result]) -> str:
    nx = [r for r in results if r.storage == "nx-27017"] or results
    rate = min(r.msgs_per_s for r in nx)
    p99 = max(pct(r.latencies_ms, 99) for r in nx)
    lost = sum(r.lost for r in nx)
    duplicated = sum(r.duplicated for r in nx)
    late = sum(sum(r.order_violations()[1:]) for r in results)
    return (
        f"msgs_per_s={rate:.1f} reply_latency_ms_p99={p99:.0f} lost={lost} duplicated={duplicated}"
        f" out_of_order={late}"
    )
