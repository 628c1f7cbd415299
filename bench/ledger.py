"""Ledger reserve latency at the start of a day and after 100,000 requests in it.

The ledger runs over a SQLite file (WAL, synchronous=NORMAL, as local/ledger.py
opens it). For each point we time `reserve` + `settle` pairs, the work every
request adds, and report the median and p95 of the reserve alone. Before the
day totals, each reserve summed all of the day's rows, so its cost grew with
the day; now it must not: `bench/run --ledger`."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from local.ledger import SqliteSqlStorage
from pipeline.ledger.core import LedgerCore

START_MS = 1_795_000_000_000  # midday UTC, so the whole run stays in one day


def fill(core: LedgerCore, count: int, now_ms: int) -> None:
    """`count` requests already seen today: reserved and settled, as the day goes."""
    sql = core.sql._conn  # a bulk load for the set-up only, in one transaction
    sql.execute("BEGIN")
    for i in range(count):
        core.reserve({"request_id": f"fill{i}", "caller": f"c{i % 20}", "provider": "openai", "model": "m",
                      "images": 1, "estimate_micros": 1}, now_ms)
        core.settle(f"fill{i}", 1, None, now_ms)
    sql.execute("COMMIT")


def measure(core: LedgerCore, runs: int, now_ms: int, tag: str) -> list[float]:
    timings = []
    for i in range(runs):
        started = time.perf_counter()
        core.reserve({"request_id": f"{tag}{i}", "caller": f"c{i % 20}", "provider": "openai", "model": "m",
                      "images": 1, "estimate_micros": 1}, now_ms)
        timings.append((time.perf_counter() - started) * 1000)
        core.settle(f"{tag}{i}", 1, None, now_ms)
    return timings


def run(day_requests: int, runs: int, folder: Path) -> dict[str, float]:
    core = LedgerCore(SqliteSqlStorage(str(folder / f"ledger-{day_requests}.db")))
    core.put_config({"daily_budget_micros": 10**12})
    fill(core, day_requests, START_MS)
    measure(core, 200, START_MS, "warm")
    timings = measure(core, runs, START_MS, "m")
    return {"p50": statistics.median(timings), "p95": statistics.quantiles(timings, n=20)[18]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--day", type=int, default=100_000, help="requests already seen today")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        empty = run(0, args.runs, Path(tmp))
        full = run(args.day, args.runs, Path(tmp))
    print("| requests already today | reserve p50 ms | reserve p95 ms |")
    print("|---|---|---|")
    print(f"| 0 | {empty['p50']:.3f} | {empty['p95']:.3f} |")
    print(f"| {args.day:,} | {full['p50']:.3f} | {full['p95']:.3f} |")
    print(f"\nratio of medians: {full['p50'] / empty['p50']:.2f}")


if __name__ == "__main__":
    main()
