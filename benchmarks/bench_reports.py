"""Report benchmarks: each query of the executive summary on the marts, and the whole page.

    .venv/bin/python benchmarks/bench_reports.py [--days 365] [--scale 1.0] [--runs 7]
    .venv/bin/python benchmarks/bench_reports.py --warehouse data/warehouse/retailops.duckdb

Without ``--warehouse`` it first builds a throwaway platform (``kedro run --pipelines
ingest,transform,validate`` over ``--days`` days from 2024-07-01 at ``--scale``, in a temporary
folder; 365 days at scale 1 takes minutes). Each figure is the median of ``--runs`` runs after
one warm-up run, on DuckDB. Each query is timed twice: on its own (it opens the file
read-only, runs, closes) and inside a report session (one read-only connection for every query,
as ``collect_summary`` runs them). Target (issue 3): each report query <= 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 100.0


def build_platform(root: Path, days: int, scale: float) -> Path:
    """Land ``days`` days and build the warehouse in ``root``; return the DuckDB file."""
    conf = root / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", conf, ignore=shutil.ignore_patterns("local"))
    (conf / "local").mkdir()
    warehouse = root / "warehouse" / "retailops.duckdb"
    (conf / "base" / "globals.yml").write_text(
        f"lake_root: {root / 'lake'}\nwarehouse_path: {warehouse}\n"
        f"serving_path: {root / 'warehouse' / 'serving.duckdb'}\n"
        f"reports_dir: {root / 'reports'}\n")
    last = date(2024, 7, 1) + timedelta(days=days - 1)
    kedro = str(Path(sys.executable).with_name("kedro"))
    started = time.perf_counter()
    subprocess.run([kedro, "run", "--conf-source", str(conf), "--pipelines",
                    "ingest,transform,validate", "--params",
                    f"start_date=2024-07-01,end_date={last.isoformat()},scale={scale}"],
                   cwd=PROJECT_ROOT, check=True, stdout=subprocess.DEVNULL)
    print(f"built {days} day(s) at scale {scale} in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)
    return warehouse


def median_ms(fn, runs: int) -> float:
    fn()  # warm-up: file cache, DuckDB's first open
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bench(warehouse_path: Path, runs: int) -> dict:
    import duckdb

    from retailops.reports import (
        REPORT_QUERIES,
        ReportWindow,
        SummarySettings,
        collect_summary,
        render_executive_summary,
    )
    from retailops.reports.queries import sales_date_range
    from retailops.warehouse.engines import DuckDBWarehouse

    warehouse = DuckDBWarehouse(str(warehouse_path))
    settings = SummarySettings()
    first, last = sales_date_range(warehouse)
    window = ReportWindow.ending(last, settings.period_days, settings.trend_days,
                                 settings.cover_lookback_days, first,
                                 settings.count_lookback_days)
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        sales_rows = con.execute("select count(*) from marts.fct_daily_sales").fetchall()[0][0]
        count_rows = con.execute(
            "select count(*) from marts.fct_inventory_snapshots").fetchall()[0][0]
    # A query on its own opens the DuckDB file read-only: this is that floor.
    baseline = median_ms(lambda: warehouse.query("select 1 as one"), runs)
    alone = {name: median_ms(lambda q=query: q(warehouse, window), runs)
             for name, query in REPORT_QUERIES.items()}
    with warehouse.session() as connected:
        in_session = {name: median_ms(lambda q=query: q(connected, window), runs)
                      for name, query in REPORT_QUERIES.items()}
    run_report = {"window": {"first": window.first.isoformat(), "last": last.isoformat()},
                  "checks": [], "dbt": {}, "ok": True}
    collect = median_ms(lambda: collect_summary(warehouse, run_report, settings), runs)
    summary = collect_summary(warehouse, run_report, settings)
    render = median_ms(lambda: render_executive_summary(summary), runs)
    return {
        "warehouse": str(warehouse_path),
        "days": (last - first).days + 1,
        "fct_daily_sales_rows": int(sales_rows),
        "fct_inventory_snapshots_rows": int(count_rows),
        "runs": runs,
        "open_and_select_1_ms": round(baseline, 1),
        "query_ms": {k: round(v, 1) for k, v in in_session.items()},
        "query_alone_ms": {k: round(v, 1) for k, v in alone.items()},
        "all_queries_ms": round(collect, 1),
        "render_ms": round(render, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warehouse", type=Path,
                        help="benchmark this DuckDB file instead of building one")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_reports_") as tmp:
        path = args.warehouse or build_platform(Path(tmp), args.days, args.scale)
        figures = bench(path, args.runs)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"Report queries on {figures['days']} day(s): {figures['fct_daily_sales_rows']:,} "
          f"fct_daily_sales rows, {figures['fct_inventory_snapshots_rows']:,} inventory counts "
          f"(median of {figures['runs']} runs; target <= {TARGET_MS:.0f} ms each)")
    print(f"  {'query':<32} {'in report':>11} {'alone':>9}")
    print(f"  {'(open the file + select 1)':<32} {'':>11} {figures['open_and_select_1_ms']:6.1f} ms")
    for name, ms in figures["query_ms"].items():
        flag = "" if ms <= TARGET_MS else "  over target"
        print(f"  {name:<32} {ms:8.1f} ms {figures['query_alone_ms'][name]:6.1f} ms{flag}")
    print(f"  {'all queries (collect_summary)':<32} {figures['all_queries_ms']:8.1f} ms")
    print(f"  {'render page':<32} {figures['render_ms']:8.1f} ms")
    print(f"  machine: {figures['machine']}")


if __name__ == "__main__":
    main()
