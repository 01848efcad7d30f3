"""History benchmark: does a daily run cost the same after 900 days of history as after 30?

    .venv/bin/python benchmarks/bench_history.py [--scale 0.25] [--short 30] [--long 900]
        [--runs 3] [--workdir /tmp/retailops-history] [--rebuild-base]

Issue 13's target: a daily run after 900 days costs at most 1.2x one after 30 days.

1. For each history length N (``--short``, ``--long``), a base: N days landed from 2024-07-01
   at ``--scale``, then ``kedro run --pipelines transform,validate,publish`` over them (a full
   build, the whole window validated, the readers' view published). Kept under
   ``<workdir>/base<N>`` and reused (``--rebuild-base`` redoes the build, not the landing).
2. A copy of each base, then ``--runs`` daily runs on each, alternating short and long (the
   machine's load hits both alike): ``kedro run --pipelines ingest,transform,validate,publish
   --params run_date=D`` as a new process, each on a new day D (N+1, N+2, ...). The forecast
   step is left out: it has its own target (issue 12), and with 30 days it writes nothing.
3. Medians, the ratio long/short, and where the extra time goes: per Kedro node (from the
   run's log timestamps), per dbt node (the build summary's per-node seconds) and per
   validation family (each timed in-process on the last run's window).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
# The in-process timings import this checkout's code (not whichever one the venv points at).
sys.path.insert(0, str(PROJECT_ROOT / "src"))
KEDRO = str(Path(sys.executable).with_name("kedro"))
FIRST_DAY = date(2024, 7, 1)
DAILY_PIPELINES = "ingest,transform,validate,publish"
# Log records with milliseconds: a node's time is the gap between two "Completed node" lines.
LOGGING = """\
version: 1
disable_existing_loggers: False
formatters:
  timed:
    format: "%(created).3f %(name)s: %(message)s"
handlers:
  console:
    class: logging.StreamHandler
    level: INFO
    formatter: timed
    stream: ext://sys.stdout
loggers:
  kedro: {level: INFO}
  retailops: {level: INFO}
  dbt: {level: WARNING}
root: {level: WARNING, handlers: [console]}
"""
COMPLETED = re.compile(r"^(\d+\.\d+) \S+: Completed node: (\S+)")
STARTED = re.compile(r"^(\d+\.\d+) ")


def write_conf(root: Path, scale: float) -> Path:
    from bench_transform import write_conf as transform_conf

    return transform_conf(root, scale)


def kedro(conf: Path, *args: str, log: Path | None = None) -> tuple[float, str]:
    """Run kedro as a new process; wall seconds and its log."""
    env = {**os.environ, "KEDRO_LOGGING_CONFIG": str(conf.parent / "logging-timed.yml")}
    (conf.parent / "logging-timed.yml").write_text(LOGGING)
    started = time.perf_counter()
    done = subprocess.run([KEDRO, "run", "--conf-source", str(conf), *args], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if log is not None:
        log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"kedro run {' '.join(args)} failed ({done.returncode}):\n"
                         + "\n".join((done.stdout + done.stderr).splitlines()[-25:]))
    return seconds, done.stdout


def node_seconds(log: str, started_at: float) -> dict[str, float]:
    """Seconds per Kedro node: from the previous node's completion (or the first log line)."""
    found, previous = {}, None
    for line in log.splitlines():
        match = COMPLETED.match(line)
        if match:
            at = float(match.group(1))
            found[match.group(2)] = at - (previous if previous is not None else at)
            previous = at
        elif previous is None and STARTED.match(line):
            previous = float(STARTED.match(line).group(1))
    found["(start-up before the first log line)"] = 0.0
    first = next((float(m.group(1)) for m in map(STARTED.match, log.splitlines()) if m), None)
    if first is not None:
        found["(start-up before the first log line)"] = first - started_at
    return found


def prepare_base(root: Path, days: int, scale: float, rebuild: bool) -> date:
    """N landed days, fully built, validated and published; reused when already there."""
    last = FIRST_DAY + timedelta(days=days - 1)
    stamp = root / "base-ready.json"
    if stamp.exists() and not rebuild:
        recorded = json.loads(stamp.read_text())
        if recorded["days"] == days and recorded["scale"] == scale:
            print(f"base {root.name}: reusing {days} days at scale {scale} "
                  f"(built at commit {recorded.get('commit', '?')})")
            return last
    conf = write_conf(root, scale)
    seconds, _ = kedro(conf, "--pipelines", "ingest", "--params",
                       f"start_date={FIRST_DAY},end_date={last}", log=root / "land.log")
    print(f"base {root.name}: {days} days landed (or found) in {seconds:.0f} s")
    shutil.rmtree(root / "warehouse", ignore_errors=True)
    shutil.rmtree(root / "lake" / "curated", ignore_errors=True)
    shutil.rmtree(root / "lake" / "metadata" / "dbt", ignore_errors=True)
    seconds, _ = kedro(conf, "--pipelines", "transform,validate,publish", "--params",
                       f"start_date={FIRST_DAY},end_date={last}", log=root / "build.log")
    print(f"base {root.name}: full build, validation and publish in {seconds:.0f} s")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True).stdout.strip()
    stamp.write_text(json.dumps({"days": days, "scale": scale, "commit": commit}))
    return last


def copy_base(base: Path, run: Path, scale: float) -> Path:
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    for part in ("lake", "warehouse"):
        subprocess.run(["cp", "-a", "--reflink=auto", str(base / part), str(run / part)],
                       check=True)
    return write_conf(run, scale)


def dbt_node_seconds(run: Path) -> dict[str, float]:
    summary = json.loads((run / "lake" / "metadata" / "dbt" / "build_summary.json").read_text())
    return {entry["name"]: entry["seconds"]
            for entry in summary.get("models", []) + summary.get("tests", [])}


def validation_seconds(run: Path, run_date: date) -> dict[str, float]:
    """Each family of checks on the daily window ending ``run_date``, timed in-process, the
    supplier scorecard with the delivery totals the last run kept (as the validate stage)."""
    from retailops.lake.storage import Lake
    from retailops.pipelines.validate.nodes import DELIVERY_SUMMARY, _read_day_files
    from retailops.validation import DeliveryTotals, Settings, daily_window
    from retailops.validation.coverage import presence_checks, row_checks
    from retailops.validation.ledger import ledger_checks
    from retailops.validation.money import money_checks
    from retailops.validation.promotions import promotion_checks
    from retailops.validation.stock import stock_checks
    from retailops.validation.suppliers import supplier_checks
    from retailops.warehouse.engines import DuckDBWarehouse

    settings = Settings()
    lake = Lake(str(run / "lake"))
    warehouse = DuckDBWarehouse(str(run / "warehouse" / "retailops.duckdb"))
    found = {}
    with warehouse.session() as connected:
        started = time.perf_counter()
        window = daily_window(connected, run_date, settings.daily_window_days)
        found["window"] = time.perf_counter() - started

        def suppliers():
            kept = DeliveryTotals.from_json(lake.read_bytes(DELIVERY_SUMMARY)
                                            if lake.exists(DELIVERY_SUMMARY) else None)
            return supplier_checks(connected, window, kept,
                                   lambda days: _read_day_files(lake, days))

        families = {
            "coverage: presence": lambda: presence_checks(connected, window),
            "coverage: rows": lambda: row_checks(connected, window),
            "ledger": lambda: ledger_checks(connected, window),
            "promotions": lambda: promotion_checks(connected, window),
            "money": lambda: money_checks(connected, window, settings.money_tolerance),
            "suppliers (kept totals)": suppliers,
            "stock": lambda: stock_checks(connected, window, settings.stock_lookback_days),
        }
        for name, family in families.items():
            started = time.perf_counter()
            family()
            found[name] = time.perf_counter() - started
    return found


def median_by_key(samples: list[dict[str, float]]) -> dict[str, float]:
    keys = defaultdict(list)
    for sample in samples:
        for key, value in sample.items():
            keys[key].append(value)
    return {key: statistics.median(values) for key, values in keys.items()}


def print_breakdown(title: str, short: dict[str, float], long: dict[str, float],
                    labels: tuple[str, str], limit: int = 12) -> None:
    rows = sorted(set(short) | set(long), key=lambda k: long.get(k, 0) - short.get(k, 0),
                  reverse=True)
    print(f"\n{title} (median seconds; sorted by extra time)")
    print(f"  {'':58s} {labels[0]:>8s} {labels[1]:>8s} {'extra':>7s}")
    for key in rows[:limit]:
        a, b = short.get(key, 0.0), long.get(key, 0.0)
        print(f"  {key[:58]:58s} {a:8.2f} {b:8.2f} {b - a:+7.2f}")
    total_a, total_b = sum(short.values()), sum(long.values())
    print(f"  {'total':58s} {total_a:8.2f} {total_b:8.2f} {total_b - total_a:+7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--short", type=int, default=30)
    parser.add_argument("--long", type=int, default=900)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", default="/tmp/retailops-history")
    parser.add_argument("--rebuild-base", action="store_true")
    args = parser.parse_args()

    workdir = Path(args.workdir).resolve()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()} (shared machine: figures are noisy, compare the ratio)")
    lengths = (args.short, args.long)
    last = {n: prepare_base(workdir / f"base{n}", n, args.scale, args.rebuild_base)
            for n in lengths}
    confs = {n: copy_base(workdir / f"base{n}", workdir / f"run{n}", args.scale)
             for n in lengths}
    walls = {n: [] for n in lengths}
    nodes = {n: [] for n in lengths}
    dbt_nodes = {n: [] for n in lengths}
    loads: list[float] = []  # the 1-minute load average after each run (a shared machine)
    for i in range(1, args.runs + 1):
        for n in lengths:
            day = last[n] + timedelta(days=i)
            run = workdir / f"run{n}"
            started_at = time.time()
            seconds, log = kedro(confs[n], "--pipelines", DAILY_PIPELINES, "--params",
                                 f"run_date={day}", log=run / f"daily-{day}.log")
            walls[n].append(seconds)
            nodes[n].append(node_seconds(log, started_at))
            dbt_nodes[n].append(dbt_node_seconds(run))
            load = os.getloadavg()[0]
            loads.append(load)
            print(f"daily run after {n + i - 1} days ({day}): {seconds:.2f} s "
                  f"(load {load:.1f})", flush=True)

    medians = {n: statistics.median(walls[n]) for n in lengths}
    ratio = medians[args.long] / medians[args.short]
    print(f"\ndaily run ({DAILY_PIPELINES}), new process, new day, scale {args.scale}, "
          f"median of {args.runs}:")
    for n in lengths:
        print(f"  after {n:4d} days: {medians[n]:6.2f} s  "
              f"(runs: {', '.join(f'{s:.2f}' for s in walls[n])})")
    print(f"  ratio {args.long}/{args.short} days: {ratio:.2f}x (target <= 1.2x); "
          f"load {min(loads):.1f}-{max(loads):.1f}")
    # Run by run (each long run beside the short run just before it): less sensitive to the
    # load moving during the benchmark than the ratio of medians.
    pairs = [b / a for a, b in zip(walls[args.short], walls[args.long])]
    print(f"  run-by-run ratios: {', '.join(f'{r:.2f}' for r in pairs)} "
          f"(median {statistics.median(pairs):.2f}x)")

    labels = (f"{args.short}d", f"{args.long}d")
    print_breakdown("Kedro nodes", median_by_key(nodes[args.short]),
                    median_by_key(nodes[args.long]), labels)
    print_breakdown("dbt nodes", median_by_key(dbt_nodes[args.short]),
                    median_by_key(dbt_nodes[args.long]), labels)
    checks = {n: median_by_key([validation_seconds(workdir / f"run{n}",
                                                   last[n] + timedelta(days=args.runs))
                                for _ in range(3)]) for n in lengths}
    print_breakdown("validation families, in-process on the last window", checks[args.short],
                    checks[args.long], labels)


if __name__ == "__main__":
    main()
