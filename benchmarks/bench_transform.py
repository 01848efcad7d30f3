"""Transform benchmarks: the full dbt build over a year, and one incremental daily run.

    .venv/bin/python benchmarks/bench_transform.py [--days 365] [--scale 1.0] [--runs 3]
        [--workdir data/bench] [--warehouse-report]

1. Lands ``--days`` days from 2024-07-01 (reused when ``--workdir`` already holds them).
2. Full build: ``dbt build`` (every model and every data test) into a fresh DuckDB file,
   in-process through dbtRunner as the transform pipeline runs it; median of ``--runs``.
   Target (issue 3): <= 60 s for 365 days at scale 1.
3. Incremental daily run: lands the next day, then times ``kedro run --pipelines transform
   --params run_date=D`` as a new process (Kedro and dbt start-up included) and, separately,
   the whole scheduler run ``kedro run --pipelines daily --params run_date=D`` (ingest ->
   transform -> validate); medians of ``--runs``. Target: <= 10 s including dbt start-up.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
KEDRO = str(Path(sys.executable).with_name("kedro"))


def write_conf(root: Path, scale: float) -> Path:
    conf = root / "conf"
    if conf.exists():
        shutil.rmtree(conf)
    shutil.copytree(PROJECT_ROOT / "conf", conf, ignore=shutil.ignore_patterns("local"))
    (conf / "local").mkdir()
    (conf / "base" / "globals.yml").write_text(
        f"lake_root: {root / 'lake'}\nwarehouse_path: {root / 'warehouse' / 'retailops.duckdb'}\n"
        f"serving_path: {root / 'warehouse' / 'serving.duckdb'}\n"
        f"reports_dir: {root / 'reports'}\n")
    params = conf / "base" / "parameters_ingest.yml"
    params.write_text(params.read_text().replace("scale: 1.0", f"scale: {scale}"))
    return conf


def kedro(conf: Path, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run([KEDRO, "run", "--conf-source", str(conf), *args], cwd=PROJECT_ROOT,
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", default=str(PROJECT_ROOT / "data" / "bench"))
    args = parser.parse_args()

    from retailops.warehouse import dbt

    root = Path(args.workdir).resolve()
    conf = write_conf(root, args.scale)
    last = date(2024, 7, 1) + timedelta(days=args.days - 1)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    seconds = kedro(conf, "--pipelines", "ingest", "--params",
                    f"start_date=2024-07-01,end_date={last.isoformat()}")
    print(f"landed {args.days} day(s) at scale {args.scale} (or found them landed) in {seconds:.0f} s")

    builds = []
    for run in range(args.runs):
        target = root / "warehouse" / f"full-{run}.duckdb"
        target.unlink(missing_ok=True)
        summary = dbt.build(str(root / "lake"), "duckdb", duckdb_path=str(target))
        assert summary["success"], summary["failed_tests"] or summary["error"]
        builds.append(summary["seconds"])
        print(f"  full build {run + 1}: {summary['seconds']:.1f} s "
              f"({summary['models_built']} models, {summary['tests_passed']} tests)")
    print(f"full dbt build over {args.days} days: median {statistics.median(builds):.1f} s "
          f"over {args.runs} runs (target <= 60 s)")

    # The daily runs continue from the last full build's warehouse.
    shutil.copy(root / "warehouse" / f"full-{args.runs - 1}.duckdb",
                root / "warehouse" / "retailops.duckdb")
    transform, daily = [], []
    for run in range(args.runs):
        day = (last + timedelta(days=1 + run)).isoformat()
        kedro(conf, "--pipelines", "ingest", "--params", f"run_date={day}")
        transform.append(kedro(conf, "--pipelines", "transform", "--params", f"run_date={day}"))
        daily.append(kedro(conf, "--pipelines", "daily", "--params", f"run_date={day}"))
        print(f"  daily {day}: transform {transform[-1]:.1f} s, whole daily run {daily[-1]:.1f} s")
    print(f"incremental daily transform (new process, dbt start-up included): median "
          f"{statistics.median(transform):.1f} s (target <= 10 s)")
    print(f"whole daily run ingest -> transform -> validate (new process): median "
          f"{statistics.median(daily):.1f} s")


if __name__ == "__main__":
    main()
