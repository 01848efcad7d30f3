"""The daily run against its floor: ``kedro run --pipelines daily`` on a new day after a year of
history, beside the same day's essential work done by bare DuckDB statements.

    .venv/bin/python benchmarks/bench_daily.py [--workdir /tmp/h3-year] [--days 365]
        [--scale 1.0] [--runs 3] [--baseline REF]

1. A year of history (``--days`` from 2024-07-01 at ``--scale``), landed and fully built once;
   reused when ``--workdir`` already holds it (each run adds a day, so history grows by
   ``--runs`` days per invocation, which a year does not notice).
2. Each run takes the next day nobody has landed yet, and times, each as a new process:
   - **daily**: ``kedro run --pipelines daily --tags ingest,transform,validate
     --params run_date=D`` — the daily pipeline without its forecast step (it has its own
     target, ``bench_forecast.py``) and publish (which follows the forecast): the day is
     simulated and landed, planned, verified, built and tested by dbt, and validated.
   - **floor**: a bare Python process that imports duckdb, reads the day's three CSVs and the
     dimension files, builds the day's fact rows (``fct_daily_sales``,
     ``fct_inventory_snapshots``) and runs 30 checks as separate statements (keys, uniqueness,
     ranges, relationships, row counts against the manifests): the work the daily run cannot
     avoid, without Kedro or dbt.
   Prints both, their ratio (of wall seconds, and of CPU seconds: these suffer far less from
   other jobs on a shared machine), and where the daily run's seconds go (from its log with
   millisecond stamps and dbt's own log); each run's log is kept in ``<workdir>/runs/``.
Targets (issue 13): daily <= 8 s and <= 15x the floor; medians of ``--runs``.

``--baseline REF`` (a git commit) times that commit's daily run too, alternating with today's
code run by run on the same lake (each run still a new day, each variant with its own dbt target
folder), and prints both side by side: on a shared machine only such pairs compare two versions.
The commit is exported to ``<workdir>/baseline-<REF>``; one run of each version first is a
warm-up and is not counted (the baseline's first parse in its own target folder).

dbt's saved parse lives in ``<workdir>/dbt-target`` (``DBT_TARGET_PATH``), so other dbt runs on
the machine cannot invalidate it; a deployment has one project, one target folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
KEDRO = str(Path(sys.executable).with_name("kedro"))
FIRST_DAY = date(2024, 7, 1)

# Kedro's log with milliseconds since the process started (the project's has seconds only).
LOGGING = """\
version: 1
disable_existing_loggers: False
formatters:
  timed:
    format: "%(relativeCreated)d %(levelname)s %(name)s: %(message)s"
handlers:
  console:
    class: logging.StreamHandler
    level: INFO
    formatter: timed
    stream: ext://sys.stdout
loggers:
  kedro:
    level: INFO
  retailops:
    level: INFO
  dbt:
    level: WARNING
root:
  level: WARNING
  handlers: [console]
"""


def _env(root: Path) -> dict[str, str]:
    logging_conf = root / "bench_logging.yml"
    logging_conf.write_text(LOGGING)
    return {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1",
            "KEDRO_LOGGING_CONFIG": str(logging_conf),
            "DBT_TARGET_PATH": str(root / "dbt-target"), "DBT_LOG_PATH": str(root / "dbt-logs")}


def _kedro(conf: Path, env: dict[str, str], *args: str,
           project: Path = PROJECT_ROOT) -> tuple[float, str]:
    started = time.perf_counter()
    run = subprocess.run([KEDRO, "run", "--conf-source", str(conf), *args], cwd=project,
                         env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"kedro run {' '.join(args)} failed:\n{(run.stderr + run.stdout)[-3000:]}")
    return seconds, run.stdout + run.stderr


def _last_landed(lake: Path) -> date | None:
    days = [p.name[3:] for p in (lake / "metadata" / "manifests" / "sales").glob("dt=*")]
    return max((date.fromisoformat(d) for d in days), default=None)


def prepare(root: Path, days: int, scale: float, env: dict[str, str]) -> Path:
    """The year of history, landed and built (once)."""
    sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
    from bench_transform import write_conf

    # Rewritten on every invocation: the runs time today's project and its conf.
    conf = write_conf(root, scale)
    if _last_landed(root / "lake") is None:
        last = FIRST_DAY + timedelta(days=days - 1)
        seconds, _ = _kedro(conf, env, "--pipelines", "ingest", "--params",
                            f"start_date={FIRST_DAY},end_date={last}")
        print(f"landed {days} days at scale {scale} in {seconds:.0f} s")
        seconds, _ = _kedro(conf, env, "--pipelines", "transform")
        print(f"full build in {seconds:.0f} s")
    # As a deployment ships it (the image parses at build time): lineage's manifest is fresh,
    # and dbt's saved parse matches the runs' vars and profile, so a run parses nothing. In a
    # shared work tree someone's edit to the dbt project would otherwise be timed as a parse.
    subprocess.run([sys.executable, "-c", PARSE, str(root)], env=env, check=True,
                   cwd=PROJECT_ROOT, capture_output=True)
    return conf


PARSE = """
import json, sys
from pathlib import Path
from retailops.warehouse import dbt
from retailops.warehouse.dbt_project import dbt_vars
from retailops.warehouse.lineage import ensure_manifest
ensure_manifest()
root = Path(sys.argv[1])
result = dbt.invoke(["parse", "--no-write-json", "--vars", json.dumps(dbt_vars(str(root / "lake")))],
                    "duckdb", env={"RETAILOPS_DUCKDB_PATH": str(root / "warehouse" / "retailops.duckdb"),
                                   "RETAILOPS_RUN_DATE": "", "RETAILOPS_REBUILD_DAYS": "none"})
assert result.success, result.exception
"""


# --- where the daily run's seconds go ------------------------------------------------------

def _node_starts(log: str) -> dict[str, int]:
    starts = {}
    for match in re.finditer(r"^(\d+) INFO kedro\.pipeline\.node: Running node: (\w+):", log,
                             re.MULTILINE):
        starts.setdefault(match.group(2), int(match.group(1)))
    return starts


def _stamp(log: str, pattern: str) -> int:
    match = re.search(rf"^(\d+) .*{pattern}", log, re.MULTILINE)
    if not match:
        raise ValueError(f"not in the run's log: {pattern}")
    return int(match.group(1))


def _build_invocation(dbt_log: str) -> str:
    """The part of dbt's log written by the run's ``dbt build`` (a run may also parse). The
    build logs at info (``dbt.build``), so only info lines mark it."""
    parts = re.split(r"(?m)^(?=\S+ \[info \] \[MainThread\]: Running with dbt=)", dbt_log)
    builds = [part for part in parts if "Concurrency:" in part]
    if len(builds) != 1:
        raise ValueError(f"expected one dbt build in the run's dbt log, found {len(builds)}")
    return builds[0]


def _dbt_phases(dbt_log: str) -> dict[str, float]:
    """dbt's own timeline of the run's build, from its log file (seconds)."""
    dbt_log = _build_invocation(dbt_log)
    def at(pattern: str) -> float:
        match = re.search(rf"^(\d\d:\d\d:\d\d\.\d+) .*{pattern}", dbt_log, re.MULTILINE)
        if not match:
            raise ValueError(f"not in dbt's log: {pattern}")
        return datetime.strptime(match.group(1), "%H:%M:%S.%f").timestamp()

    begin, found = at("Running with dbt="), at(r"Found \d+ ")
    running, finished = at("Concurrency:"), at(r"Finished running \d+ ")
    end = at(r"Done\. ")
    # At info dbt names a whole re-parse; a partial one (a changed file) shows at debug only
    # (DBT_LOG_LEVEL_FILE=debug), and otherwise as a longer "start-up and parse".
    reparsed = bool(re.search("Unable to do partial parsing|Partial parsing: updated file",
                              dbt_log))
    return {"start and parse": found - begin, "nodes": finished - running,
            "other": (end - begin) - (found - begin) - (finished - running),
            "reparsed": reparsed}


def breakdown(log: str, dbt_log: str, wall: float) -> dict[str, float]:
    """Seconds per phase of one daily run (they add up to its wall time)."""
    nodes = _node_starts(log)
    first = min(nodes.values())
    built = _stamp(log, r"retailops\.warehouse\.dbt: dbt build:")
    done = _stamp(log, "Pipeline execution completed")
    dbt = _dbt_phases(dbt_log)
    dbt_total = (built - nodes["dbt_build"]) / 1000
    inside = dbt["start and parse"] + dbt["nodes"] + dbt["other"]
    return {
        "startup (python, kedro, registration, catalog)": first / 1000,
        "ingest (simulate, land the day)": (nodes["plan_rebuild"] - first) / 1000,
        "plan and verify": (nodes["dbt_build"] - nodes["plan_rebuild"]) / 1000,
        # Waiting for dbt: its worker process still importing it (the parent's own import
        # before 2baaaac, or the background thread's), or still parsing ahead (since 2b3549f:
        # the build's own "start-up and parse" then holds no parse).
        "dbt: import, parse ahead (wait)": dbt_total - inside,
        "dbt: start-up and parse": dbt["start and parse"],
        "dbt: nodes (models and tests)": dbt["nodes"],
        "dbt: other": dbt["other"],
        "record, lineage nodes": (nodes["reconcile_run"] - built) / 1000,
        "validate": (done - nodes["reconcile_run"]) / 1000,
        "exit": wall - done / 1000,
        "dbt re-parsed": float(dbt["reparsed"]),
    }


# --- the floor -----------------------------------------------------------------------------

def floor(lake: str, day: str) -> None:
    """The day's essential work as bare DuckDB statements (run in a child process)."""
    import duckdb

    raw = f"{lake}/raw"
    con = duckdb.connect()
    rows = {t: json.loads(Path(f"{lake}/metadata/manifests/{t}/dt={day}/manifest.json")
                          .read_text())["rows"] for t in ("sales", "inventory", "shipments")}
    csv = "read_csv('{}', all_varchar=true, header=true)"
    con.execute(f"""create table products as select product_id, category,
        try_cast(unit_cost as double) as unit_cost, supplier_id
        from {csv.format(raw + '/products/products.csv')}""")
    con.execute(f"create table stores as select store_id, region from "
                f"{csv.format(raw + '/stores/stores.csv')}")
    con.execute(f"create table suppliers as select supplier_id from "
                f"{csv.format(raw + '/suppliers/suppliers.csv')}")
    con.execute(f"""create table sales as select
        try_cast(sale_id as bigint) as sale_id, try_cast(sold_at as timestamp) as sold_at,
        nullif(trim(store_id), '') as store_id, nullif(trim(product_id), '') as product_id,
        try_cast(quantity as integer) as quantity, try_cast(unit_price as double) as unit_price,
        try_cast(discount_pct as double) as discount_pct
        from {csv.format(f'{raw}/sales/dt={day}/sales.csv')}""")
    con.execute(f"""create table inventory as select
        try_cast(snapshot_date as date) as snapshot_date, store_id, product_id,
        try_cast(quantity_on_hand as integer) as quantity_on_hand,
        try_cast(quantity_on_order as integer) as quantity_on_order,
        try_cast(reorder_point as integer) as reorder_point
        from {csv.format(f'{raw}/inventory/dt={day}/inventory.csv')}""")
    con.execute(f"""create table shipments as select
        try_cast(shipment_id as bigint) as shipment_id, try_cast(line_number as integer)
        as line_number, supplier_id, store_id, product_id,
        try_cast(order_date as date) as order_date, try_cast(received_date as date)
        as received_date, try_cast(quantity_ordered as integer) as quantity_ordered,
        try_cast(quantity_received as integer) as quantity_received
        from {csv.format(f'{raw}/shipments/dt={day}/shipments.csv')}""")
    con.execute("""create table fct_daily_sales as select cast(sold_at as date) as sale_date,
        s.store_id, s.product_id, cast(sum(quantity) as bigint) as quantity,
        sum(quantity * unit_price) as gross_revenue,
        sum(quantity * unit_price * (1 - coalesce(discount_pct, 0))) as net_revenue,
        sum(quantity * p.unit_cost) as cost, count(*) as transactions
        from sales s left join products p using (product_id) group by all""")
    con.execute("""create table fct_inventory_snapshots as select i.*,
        quantity_on_hand * p.unit_cost as inventory_value,
        coalesce(quantity_on_hand = 0, false) as is_stock_out
        from inventory i left join products p using (product_id)""")
    checks = [
        # sales
        ("select count(*) from sales where sale_id is null", 0),
        ("select count(*) - count(distinct sale_id) from sales", 0),
        ("select count(*) from sales where sold_at is null", 0),
        ("select count(*) from sales where store_id is null or product_id is null", 0),
        ("select count(*) from sales where quantity is null or quantity <= 0", 0),
        ("select count(*) from sales where unit_price is null or unit_price < 0", None),
        ("select count(*) from sales where discount_pct < 0 or discount_pct > 1", 0),
        ("select count(*) from sales where store_id not in (select store_id from stores)", 0),
        ("select count(*) from sales where product_id not in "
         "(select product_id from products)", 0),
        ("select count(*) from sales", rows["sales"]),
        # inventory
        ("select count(*) from inventory where snapshot_date is null", 0),
        ("select count(*) - count(distinct (snapshot_date, store_id, product_id)) "
         "from inventory", 0),
        ("select count(*) from inventory where quantity_on_hand is null", 0),
        ("select count(*) from inventory where reorder_point < 0 or quantity_on_order < 0", 0),
        ("select count(*) from inventory where store_id not in (select store_id from stores)", 0),
        ("select count(*) from inventory where product_id not in "
         "(select product_id from products)", 0),
        ("select count(*) from inventory", rows["inventory"]),
        # shipments
        ("select count(*) from shipments where shipment_id is null or line_number is null", 0),
        ("select count(*) - count(distinct (shipment_id, line_number)) from shipments", None),
        ("select count(*) from shipments where quantity_received < 0 "
         "or quantity_ordered <= 0", 0),
        ("select count(*) from shipments where received_date < order_date", 0),
        ("select count(*) from shipments where supplier_id not in "
         "(select supplier_id from suppliers)", None),
        ("select count(*) from shipments where store_id not in (select store_id from stores)", 0),
        ("select count(*) from shipments", rows["shipments"]),
        # the day's fact rows
        ("select count(*) - count(distinct (sale_date, store_id, product_id)) "
         "from fct_daily_sales", 0),
        ("select count(*) from fct_daily_sales where cost is null", 0),
        ("select count(*) from fct_daily_sales where sale_date <> date '" + day + "'", 0),
        ("select sum(transactions) from fct_daily_sales", rows["sales"]),
        ("select count(*) from fct_inventory_snapshots where inventory_value is null", 0),
        ("select count(*) - count(distinct (snapshot_date, store_id, product_id)) "
         "from fct_inventory_snapshots", 0),
    ]
    failed = []
    for sql, expected in checks:
        value = con.execute(sql).fetchall()[0][0]
        if expected is not None and value != expected:
            failed.append(f"{sql}: {value} != {expected}")
    print(json.dumps({"checks": len(checks), "failed": failed,
                      "fact_rows": con.execute("select count(*) from fct_daily_sales")
                      .fetchall()[0][0]}))


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _floor_run(lake: Path, day: str) -> tuple[float, dict]:
    started = time.perf_counter()
    run = subprocess.run([sys.executable, __file__, "--floor", day, "--workdir", str(lake.parent)],
                         capture_output=True, text=True, check=True)
    return time.perf_counter() - started, json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/h3-year")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", help="a git commit to time side by side (alternating)")
    parser.add_argument("--floor", help=argparse.SUPPRESS)  # the child process's day
    args = parser.parse_args()
    root = Path(args.workdir).resolve()
    if args.floor:
        floor(str(root / "lake"), args.floor)
        return

    root.mkdir(parents=True, exist_ok=True)
    env = _env(root)
    conf = prepare(root, args.days, args.scale, env)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} "
          "(shared: other engineers' jobs run beside this one)")
    variants = {"today": (PROJECT_ROOT, env)}
    if args.baseline:
        variants = {f"baseline {args.baseline}": baseline(root, args.baseline, env), **variants}
        for name, (project, variant_env) in variants.items():
            # Warm-up, not counted: the baseline's first parse in its own target folder, and
            # what each version keeps between runs (dbt's compiled templates since bbc2e12).
            one_run(root, conf, project, variant_env, label=f"{name} (warm-up)")
    results = {name: [] for name in variants}
    for _ in range(args.runs):
        for name, (project, variant_env) in variants.items():
            results[name].append(one_run(root, conf, project, variant_env, label=name))
    for name, runs in results.items():
        if len(variants) > 1:
            print(f"== {name}")
        report(runs, args)
    if len(results) > 1:
        (old_name, old), (new_name, new) = results.items()
        for what, value in (("wall", lambda r: r["daily"]), ("CPU", lambda r: r["cpu"][0])):
            before = statistics.median(value(r) for r in old)
            after = statistics.median(value(r) for r in new)
            print(f"{what}: {new_name} {after:.2f} s vs {old_name} {before:.2f} s "
                  f"({after / before:.2f}x; medians of {len(new)} alternating runs)")


def baseline(root: Path, ref: str, env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """A commit's project exported beside the lake, with its own dbt target and log folders
    (a build of one version must not invalidate the other's saved parse)."""
    project = root / f"baseline-{ref}"
    if not project.is_dir():
        # A ref git does not know is one line, and leaves no folder that a later run would
        # take for an exported project: the export goes to a side folder, renamed when whole.
        known = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                               cwd=PROJECT_ROOT, capture_output=True)
        if known.returncode != 0:
            raise SystemExit(f"--baseline {ref}: not a commit of {PROJECT_ROOT}")
        partial = root / f".baseline-{ref}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        archive = subprocess.run(["git", "archive", ref], cwd=PROJECT_ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive, check=True)
        partial.rename(project)
    lineage = PROJECT_ROOT / "dbt_athena" / "target" / "manifest.json"
    if lineage.is_file():  # as the image ships it: registration parses nothing
        (project / "dbt_athena" / "target").mkdir(parents=True, exist_ok=True)
        (project / "dbt_athena" / "target" / "manifest.json").write_bytes(lineage.read_bytes())
    return project, {**env, "PYTHONPATH": str(project / "src"),
                     "DBT_TARGET_PATH": str(root / f"dbt-target-{ref}"),
                     "DBT_LOG_PATH": str(root / f"dbt-logs-{ref}")}


def one_run(root: Path, conf: Path, project: Path, env: dict[str, str],
            label: str = "") -> dict:
    """The daily run of the next new day, then the floor on the same day."""
    dbt_log = Path(env["DBT_LOG_PATH"]) / "dbt.log"
    day = (_last_landed(root / "lake") + timedelta(days=1)).isoformat()
    before = dbt_log.stat().st_size if dbt_log.is_file() else 0
    cpu_before = _children_cpu()
    wall, log = _kedro(conf, env, "--pipelines", "daily", "--tags",
                       "ingest,transform,validate", "--params", f"run_date={day}",
                       project=project)
    cpu_daily = _children_cpu() - cpu_before
    with dbt_log.open(encoding="utf-8", errors="replace") as handle:
        handle.seek(before)
        this_build = handle.read()
    (root / "runs").mkdir(exist_ok=True)
    (root / "runs" / f"{day}.log").write_text(log)
    cpu_before = _children_cpu()
    floor_wall, result = _floor_run(root / "lake", day)
    cpu_floor = _children_cpu() - cpu_before
    if result["failed"]:
        raise SystemExit(f"floor checks failed for {day}: {result['failed']}")
    phases = breakdown(log, this_build, wall)
    print(f"  {day}{' ' + label if label else ''}: daily {wall:.2f} s, floor {floor_wall:.2f} s "
          f"({result['checks']} checks, {result['fact_rows']:,} sales fact rows), "
          f"ratio {wall / floor_wall:.1f}x; CPU {cpu_daily:.1f} s vs {cpu_floor:.1f} s; "
          f"load {os.getloadavg()[0]:.1f}, "
          f"dbt re-parsed: {'yes' if phases['dbt re-parsed'] else 'no'}", flush=True)
    return {"daily": wall, "floor": floor_wall, "cpu": (cpu_daily, cpu_floor), "phases": phases}


def report(runs: list[dict], args: argparse.Namespace) -> None:
    daily, floors = [r["daily"] for r in runs], [r["floor"] for r in runs]
    median_daily, median_floor = statistics.median(daily), statistics.median(floors)
    print(f"daily run (new process, new day, {args.days}-day history, scale {args.scale}): "
          f"median {median_daily:.2f} s (target <= 8 s)")
    print(f"floor (bare DuckDB, new process): median {median_floor:.2f} s")
    print(f"ratio daily / floor: {median_daily / median_floor:.1f}x (target <= 15x); "
          f"median of per-run ratios {statistics.median(d / f for d, f in zip(daily, floors)):.1f}x")
    # CPU seconds suffer far less than wall seconds from other jobs on a shared machine.
    cpu_daily, cpu_floor = (statistics.median(r["cpu"][i] for r in runs) for i in (0, 1))
    print(f"CPU (user + system, every thread and child): daily median {cpu_daily:.1f} s, floor "
          f"{cpu_floor:.1f} s, ratio {cpu_daily / cpu_floor:.1f}x")
    print("where the daily run's seconds go (median over runs):")
    for name in runs[0]["phases"]:
        if name != "dbt re-parsed":
            print(f"  {name:<48} {statistics.median(r['phases'][name] for r in runs):6.2f} s")

if __name__ == "__main__":
    main()
