"""Ingest benchmarks: one day generated and landed, a 365-day backfill against its floor, and
its peak memory.

    .venv/bin/python benchmarks/bench_ingest.py [--runs 3] [--day-runs 7] [--days 365] [--scale 1]
    .venv/bin/python benchmarks/bench_ingest.py --next-day-on LAKE[,LAKE...] [--runs 3]

Each figure is the median of several runs. The backfill runs in a child process so its peak
resident memory (ru_maxrss, the larger of the run and the process simulating ahead) is its
own. The backfill runs the way ``kedro run --pipelines ingest`` lands days (``simulate_window``
then ``land_day`` per day), with the next days simulated in a second process
(``simulation.ahead``); for comparison the same backfill also runs serially (``--serial``).
On a shared machine the backfill's two processes get two shares of the CPU where the floor's
one process gets one (Linux's autogroup: one share per session, and the simulating process
starts a session of its own): that is what "using both cores" means when others use them too.

The floor is a bare numpy + pyarrow run of what any generator of this lake must do: for each
day it draws a demand count per (store, product) cell, as many rows of each fact table as the
real backfill landed with the same columns (ids and timestamps as strings), and writes them as
CSV and the per-cell ground truth as Parquet with pyarrow, on one core; no chain logic (stock,
orders, deliveries), no defects, manifests or checkpoints. Floor and backfill runs alternate, side by
side in one benchmark, so a shared machine's load hits both alike: the ratio is the figure.

Targets: one day <= 0.25 s (issue 2); 365 days at scale 1 within 1.5x the floor, peak memory
<= 1.5 GB (issue 13).

``--next-day-on``: the next day of existing lakes (e.g. a scale-16 and a scale-1 lake, as
``bench_scale.py`` leaves them), landed as a daily run's ``simulate_and_land_days`` node lands it
(resumed from the checkpoint, simulated, formatted, landed) in a new process on a light copy of
each lake (no fact data, no truth: the landing reads neither), the lakes alternating run by run;
it prints each part's median wall and CPU seconds (issue 13: the day's landing at scale 16).
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


def _peak_mb() -> float:
    """Peak resident memory of this process or its largest child (the simulating one), MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, child) / 1024


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def backfill_child(days: int, scale: float, serial: bool) -> None:
    """(child process) Land ``days`` days from 2024-07-01 into a fresh lake; print JSON with
    the rows landed per day (the floor draws as many)."""
    from retailops.lake.landing import land_day, land_dimensions
    from retailops.lake.storage import Lake
    from retailops.pipelines.ingest import nodes
    from retailops.simulation import ahead

    if serial:  # every window is "too short" for the simulating process
        nodes.run_days_ahead = lambda *a: ahead.run_days_ahead(*a, min_days=10**9)
    last = date(2024, 7, 1) + timedelta(days=days - 1)
    params = {"review_period_days": 10}
    counts = []
    with tempfile.TemporaryDirectory() as root:
        lake = Lake(root)
        start = time.perf_counter()
        cpu0 = time.process_time()
        window = nodes.resolve_window("2024-07-01", last.isoformat(), None)
        land_dimensions(lake, nodes.build_dimensions(window, 20240701, scale, params))
        for landing in nodes.simulate_window(lake, window, 20240701, scale, params, False):
            land_day(lake, landing)
            counts.append([landing.batch.tables[t].num_rows
                           for t in ("sales", "inventory", "shipments")])
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
    print(json.dumps({"seconds": seconds, "sale_lines": sum(c[0] for c in counts),
                      "cells": len(landing.batch.truth) if counts else 0,
                      "peak_mb": _peak_mb(), "lake_mb": size / 2**20, "counts": counts,
                      "cpu_s": cpu, "child_cpu_s": _children_cpu()}))


def _light_copy(lake_root: str, into: str) -> None:
    """The lake without its fact partitions' data, truth files and curated zone."""
    import shutil

    def ignore(folder: str, names: list[str]) -> list[str]:
        relative = os.path.relpath(folder, lake_root).replace(os.sep, "/")
        if relative in ("raw/sales", "raw/inventory", "raw/shipments", "metadata/truth"):
            return [n for n in names if n.startswith("dt=")]
        return ["curated"] if relative == "." else []

    shutil.copytree(lake_root, into, ignore=ignore)


def next_day_child(root: str) -> None:
    """(child process) Land the day after the lake's newest checkpoint as the daily run's
    ingest nodes do; print JSON with each part's wall and CPU seconds."""
    def clock() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    parts: dict[str, list[float]] = {}

    def part(name: str, since: tuple[float, float]) -> tuple[float, float]:
        now = clock()
        parts[name] = [now[0] - since[0], now[1] - since[1]]
        return now

    from retailops.lake.landing import DayLanding, land_day, land_dimensions, plan_window
    from retailops.lake.lake_config import read_lake_configuration
    from retailops.lake.state_store import checkpoint_days
    from retailops.lake.storage import Lake
    from retailops.pipelines.ingest.nodes import simulation_config
    from retailops.simulation import dimension_tables, shared_world
    from retailops.simulation.engine import simulate_day
    from retailops.simulation.tables import day_batch

    lake = Lake(root)
    record = read_lake_configuration(lake)
    simulation = {k: record[k] for k in ("review_period_days", "safety_factor",
                                         "builtin_policy", "defect_rates") if k in record}
    config = simulation_config(record["seed"], record["scale"], simulation)
    if config.fingerprint() != record["config_fingerprint"]:
        sys.exit(f"{root}: its configuration record does not give its fingerprint")
    day = checkpoint_days(lake)[-1] + timedelta(days=1)
    start = clock()
    world = shared_world(config)
    # As the daily run: the dimensions land first (pyarrow's first use is paid there).
    land_dimensions(lake, dimension_tables(world))
    node = since = part("world and dimensions", start)
    plan = plan_window(lake, world, day, day, False)
    if plan.days_to_land != [day]:
        sys.exit(f"{root}: {day} is already landed")
    since = part("plan (checkpoint loaded)", since)
    activity, state = simulate_day(world, plan.start_state)
    since = part("simulate", since)
    batch = day_batch(world, activity, state)
    since = part("tables", since)
    land_day(lake, DayLanding(batch=batch, fingerprint=config.fingerprint()))
    part("land (encode, hash, write)", since)
    part("the node (plan to land)", node)
    node_wall, node_cpu = parts["the node (plan to land)"]
    print(json.dumps({"day": day.isoformat(), "scale": record["scale"],
                      "sale_lines": batch.sale_lines, "parts": parts, "seconds": node_wall,
                      "cpu_s": node_cpu, "peak_mb": _peak_mb()}))


def next_day(lakes: list[str], runs: int) -> None:
    """``next_day_child`` on a fresh light copy of each lake, alternating, ``runs`` times."""
    results: dict[str, list[dict]] = {lake: [] for lake in lakes}
    for _ in range(runs):
        for lake in lakes:
            with tempfile.TemporaryDirectory() as scratch:
                copy = os.path.join(scratch, "lake")
                _light_copy(lake, copy)
                result = _child("--child-next-day", copy)
                result["load"] = os.getloadavg()[0]
                results[lake].append(result)
    for lake, found in results.items():
        first = found[0]
        print(f"{lake}: scale {first['scale']:g}, {first['day']}, {first['sale_lines']:,} sale "
              f"lines; medians of {runs} new processes (load "
              f"{min(r['load'] for r in found):.1f}-{max(r['load'] for r in found):.1f}):")
        for name in first["parts"]:
            wall = statistics.median(r["parts"][name][0] for r in found)
            cpu = statistics.median(r["parts"][name][1] for r in found)
            print(f"  {name:<28} {wall:6.3f} s wall {cpu:6.3f} s CPU")


def floor_child(counts_file: str) -> None:
    """(child process) The bare floor: per day, draw the landed row counts with numpy, format
    the same columns with pyarrow and write each table's CSV; print JSON."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    import pyarrow.parquet as pq

    with open(counts_file) as handle:
        saved = json.load(handle)
    counts, cells = saved["counts"], saved["cells"]
    stores = pa.array([f"S{i:04d}" for i in range(60)])
    products = pa.array([f"P{i:06d}" for i in range(1200)])
    suppliers = pa.array([f"SUP{i:03d}" for i in range(40)])
    clock = pa.array([f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)])
    first = date(2024, 7, 1)
    calendar = pa.array([(first + timedelta(days=i)).isoformat() for i in range(len(counts) + 30)])
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        cpu0 = time.process_time()
        for i, (n_sales, n_inventory, n_shipments) in enumerate(counts):
            rng = np.random.default_rng([7, i])
            dt = calendar[i].as_py()
            folder = os.path.join(root, f"dt={dt}")
            os.makedirs(folder)
            day = pc.take(calendar, pa.array(np.full(1, i)))

            def ids(table: pa.Array, n: int) -> pa.Array:
                return pc.take(table, pa.array(rng.integers(0, len(table), n)))

            sales = pa.table({
                "sale_id": pa.array(np.arange(1, n_sales + 1, dtype=np.int64)),
                "sold_at": pc.binary_join_element_wise(
                    f"{dt}T", pc.take(clock, pa.array(np.sort(rng.integers(28_800, 79_200,
                                                                             n_sales)))), ""),
                "store_id": ids(stores, n_sales), "product_id": ids(products, n_sales),
                "quantity": pa.array(1 + rng.poisson(0.3, n_sales)),
                "unit_price": pa.array(np.round(rng.random(n_sales) * 20, 2)),
                "discount_pct": pa.array(rng.choice([0.0, 0.1, 0.2], n_sales)),
                "dt": pc.take(day, pa.array(np.zeros(n_sales, dtype=np.int32))),
            })
            inventory = pa.table({
                "snapshot_date": pc.take(day, pa.array(np.zeros(n_inventory, dtype=np.int32))),
                "store_id": ids(stores, n_inventory), "product_id": ids(products, n_inventory),
                **{c: pa.array(rng.integers(0, 200, n_inventory))
                   for c in ("quantity_on_hand", "quantity_on_order", "reorder_point")},
            })
            dates = lambda: ids(calendar, n_shipments)  # noqa: E731
            shipments = pa.table({
                "shipment_id": pa.array(rng.integers(10**11, 10**12, n_shipments)),
                "line_number": pa.array(rng.integers(1, 40, n_shipments)),
                "supplier_id": ids(suppliers, n_shipments),
                "store_id": ids(stores, n_shipments), "product_id": ids(products, n_shipments),
                "order_date": dates(), "expected_date": dates(), "received_date": dates(),
                "quantity_ordered": pa.array(rng.integers(1, 90, n_shipments)),
                "quantity_received": pa.array(rng.integers(1, 90, n_shipments)),
            })
            # The model's irreducible draws: a demand count per cell, and the cell truth.
            lines = rng.poisson(rng.random(cells) * 2 * n_sales / cells)
            truth = pa.table({
                "store_id": pa.DictionaryArray.from_arrays(
                    pa.array(np.arange(cells, dtype=np.int32) % 60), stores),
                "product_id": pa.DictionaryArray.from_arrays(
                    pa.array(np.arange(cells, dtype=np.int32) % 1200), products),
                "expected_units": pa.array(rng.random(cells).astype(np.float32)),
                "demanded_units": pa.array(lines.astype(np.int32)),
                "sold_units": pa.array(lines.astype(np.int32)),
                "lost_units": pa.array(np.zeros(cells, dtype=np.int32)),
                "on_promotion": pa.array(rng.random(cells) < 0.04),
            })
            for name, table in (("sales", sales), ("inventory", inventory),
                                ("shipments", shipments)):
                pacsv.write_csv(table, os.path.join(folder, f"{name}.csv"))
            pq.write_table(truth, os.path.join(folder, "truth.parquet"), compression="zstd",
                           compression_level=1, write_statistics=False,
                           use_dictionary=["store_id", "product_id"])
        seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mb": _peak_mb(), "cpu_s": time.process_time() - cpu0}))


def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # Each run as it ends (a year's runs take minutes on a loaded machine).
    print(f"  run {' '.join(args)}: {result['seconds']:.1f} s, CPU {result['cpu_s']:.1f} s"
          f"{' + child ' + format(result['child_cpu_s'], '.1f') if 'child_cpu_s' in result else ''}"
          f", peak {result['peak_mb']:.0f} MB", file=sys.stderr, flush=True)
    return result


def backfill(days: int, runs: int, scale: float) -> dict[str, list[dict]]:
    """Backfill (simulating ahead), serial backfill and floor runs, interleaved run by run."""
    results: dict[str, list[dict]] = {"backfill": [], "serial": [], "floor": []}
    counts_file = None
    try:
        for _ in range(runs):
            results["backfill"].append(_child("--child-backfill", str(days), "--scale", str(scale)))
            if counts_file is None:
                fd, counts_file = tempfile.mkstemp(suffix=".json")
                with os.fdopen(fd, "w") as handle:
                    json.dump({"counts": results["backfill"][0]["counts"],
                               "cells": results["backfill"][0]["cells"]}, handle)
            results["floor"].append(_child("--child-floor", counts_file))
            results["serial"].append(_child("--child-backfill", str(days), "--scale", str(scale),
                                            "--serial"))
    finally:
        if counts_file:
            os.unlink(counts_file)
    for run in results["backfill"] + results["serial"]:
        run.pop("counts")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="backfill runs (median)")
    parser.add_argument("--day-runs", type=int, default=7, help="one-day runs (median)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--scale", type=float, default=1.0, help="scale of the backfill")
    parser.add_argument("--backfill-only", action="store_true",
                        help="skip the one-day and CSV-writer figures")
    parser.add_argument("--child-backfill", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-floor", help=argparse.SUPPRESS)
    parser.add_argument("--next-day-on", help="comma-separated lake roots: land each one's "
                        "next day (see the module's docstring) instead of the other figures")
    parser.add_argument("--child-next-day", help=argparse.SUPPRESS)
    parser.add_argument("--serial", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_backfill:
        backfill_child(args.child_backfill, args.scale, args.serial)
        return
    if args.child_floor:
        floor_child(args.child_floor)
        return
    if args.child_next_day:
        next_day_child(args.child_next_day)
        return
    if args.next_day_on:
        next_day(args.next_day_on.split(","), args.runs)
        return

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the start")
    if not args.backfill_only:
        day_s, day_lines = one_day_seconds(args.day_runs)
        print(f"one day generated and landed (default scale, {day_lines:,} sale lines): "
              f"median {day_s:.3f} s over {args.day_runs} runs (target <= 0.25 s)")
        arrow_s, pandas_s = csv_writer_ratio()
        print(f"one day's sales CSV: pyarrow {arrow_s * 1000:.0f} ms vs pandas "
              f"{pandas_s * 1000:.0f} ms ({pandas_s / arrow_s:.1f}x)")
    runs = backfill(args.days, args.runs, args.scale)
    median = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    lines = runs["backfill"][0]["sale_lines"]
    peak = statistics.median(r["peak_mb"] for r in runs["backfill"])
    ratios = [b["seconds"] / f["seconds"] for b, f in zip(runs["backfill"], runs["floor"])]
    print(f"{args.days} days at scale {args.scale:g} generated and landed: median "
          f"{median['backfill']:.1f} s over {args.runs} runs ({lines:,} sale lines, "
          f"{lines / median['backfill'] / 1e6:.2f}M sale lines/s)")
    print(f"  floor (bare numpy + pyarrow, same rows, one core), side by side: median "
          f"{median['floor']:.1f} s; backfill / floor = {median['backfill'] / median['floor']:.2f}x "
          f"(run by run: {', '.join(f'{r:.2f}' for r in ratios)}; target <= 1.5x)")
    print(f"  the same backfill serially (no simulating ahead): median {median['serial']:.1f} s "
          f"= {median['serial'] / median['floor']:.2f}x the floor")
    cpu = {k: statistics.median(r["cpu_s"] + r.get("child_cpu_s", 0) for r in v)
           for k, v in runs.items()}
    writer = statistics.median(r["cpu_s"] for r in runs["backfill"])
    simulator = statistics.median(r["child_cpu_s"] for r in runs["backfill"])
    print(f"  CPU seconds: floor {cpu['floor']:.1f}, serial {cpu['serial']:.1f}, simulating "
          f"ahead {cpu['backfill']:.1f} = writer {writer:.1f} + simulating process "
          f"{simulator:.1f}: on two free cores its wall time is about the larger of the two, "
          f"{max(writer, simulator) / cpu['floor']:.2f}x the floor's CPU; on a loaded machine "
          f"(one CPU share per session: the floor has one, the backfill two) the wall times "
          f"above are what the load left")
    print(f"peak memory of the backfill: median {peak:,.0f} MB (target <= 1,536 MB); "
          f"lake size {runs['backfill'][0]['lake_mb']:,.0f} MB")
    print("all runs:", json.dumps(runs))


if __name__ == "__main__":
    main()
