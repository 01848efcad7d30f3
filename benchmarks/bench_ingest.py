"""Ingest benchmarks: one day generated and landed, a 365-day backfill, and its peak memory.

    .venv/bin/python benchmarks/bench_ingest.py [--runs 3] [--day-runs 7] [--days 365]

Each figure is the median of several runs. The backfill runs in a child process so its peak
resident memory (ru_maxrss) is its own. Targets (issue 2): one day <= 0.25 s, 365 days <= 40 s
(>= ~0.5M sale lines/s), peak memory <= 1.5 GB.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")


def one_day_seconds(runs: int) -> tuple[float, int]:
    """Simulate, format and land 2024-07-15 at default scale (state from the day before)."""
    from retailops.lake.landing import DayLanding, land_day
    from retailops.lake.storage import Lake
    from retailops.simulation import SimulationConfig, advance, build_world, day_batch, initial_state
    from retailops.simulation.engine import simulate_day

    config = SimulationConfig()
    world = build_world(config)
    state = advance(world, initial_state(world), date(2024, 7, 15))
    day_batch(world, *simulate_day(world, state))  # warm the string caches once
    times, lines = [], 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as root:
            start = time.perf_counter()
            activity, after = simulate_day(world, state)
            batch = day_batch(world, activity, after)
            land_day(Lake(root), DayLanding(batch, config.fingerprint()))
            times.append(time.perf_counter() - start)
            lines = batch.sale_lines
    return statistics.median(times), lines


def csv_writer_ratio() -> tuple[float, float]:
    """Seconds to write one day's sales CSV with pyarrow vs pandas (why the lake uses pyarrow)."""
    from retailops.lake.partitions import encode_csv
    from retailops.simulation import SimulationConfig, build_world, initial_state, run_days

    world = build_world(SimulationConfig())
    sales = next(run_days(world, initial_state(world), date(2024, 7, 1))).tables["sales"]
    frame = sales.to_pandas()
    arrow = min(_timed(lambda: encode_csv(sales)) for _ in range(3))
    pandas = min(_timed(lambda: frame.to_csv(io.StringIO(), index=False)) for _ in range(3))
    return arrow, pandas


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def backfill_child(days: int) -> None:
    """(child process) Land ``days`` days from 2024-07-01 into a fresh lake; print JSON."""
    from retailops.lake.landing import land_day, land_dimensions
    from retailops.lake.storage import Lake
    from retailops.pipelines.ingest.nodes import build_dimensions, resolve_window, simulate_window

    last = date(2024, 7, 1) + timedelta(days=days - 1)
    params = {"review_period_days": 10}
    with tempfile.TemporaryDirectory() as root:
        lake = Lake(root)
        start = time.perf_counter()
        window = resolve_window("2024-07-01", last.isoformat(), None)
        land_dimensions(lake, build_dimensions(window, 20240701, 1.0, params))
        lines = 0
        for landing in simulate_window(lake, window, 20240701, 1.0, params, False):
            land_day(lake, landing)
            lines += landing.batch.sale_lines
        seconds = time.perf_counter() - start
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "sale_lines": lines, "peak_mb": peak_mb,
                      "lake_mb": size / 2**20}))


def backfill(days: int, runs: int) -> list[dict]:
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, __file__, "--child-backfill", str(days)],
                             capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="backfill runs (median)")
    parser.add_argument("--day-runs", type=int, default=7, help="one-day runs (median)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--child-backfill", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_backfill:
        backfill_child(args.child_backfill)
        return

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    day_s, day_lines = one_day_seconds(args.day_runs)
    print(f"one day generated and landed (default scale, {day_lines:,} sale lines): "
          f"median {day_s:.3f} s over {args.day_runs} runs (target <= 0.25 s)")
    arrow_s, pandas_s = csv_writer_ratio()
    print(f"one day's sales CSV: pyarrow {arrow_s * 1000:.0f} ms vs pandas {pandas_s * 1000:.0f} ms "
          f"({pandas_s / arrow_s:.1f}x)")
    runs = backfill(args.days, args.runs)
    seconds = statistics.median(r["seconds"] for r in runs)
    lines = runs[0]["sale_lines"]
    peak = statistics.median(r["peak_mb"] for r in runs)
    print(f"{args.days} days generated and landed: median {seconds:.1f} s over {args.runs} runs "
          f"({lines:,} sale lines, {lines / seconds / 1e6:.2f}M sale lines/s; target <= 40 s)")
    print(f"peak memory of the backfill: median {peak:,.0f} MB (target <= 1,536 MB); "
          f"lake size {runs[0]['lake_mb']:,.0f} MB")
    print("all runs:", json.dumps(runs))


if __name__ == "__main__":
    main()
