"""Athena cost per day: the bytes the daily dbt build and its data tests would scan on Athena,
estimated statement by statement from the compiled SQL's partition filters over a landed
lake's real file sizes.

    .venv/bin/python benchmarks/bench_athena_cost.py --lake /path/to/lake [--lake ...]
        [--run-date 2024-07-07] [--history-days 365] [--json out.json]

Each ``--lake`` is a lake landed and built locally (``kedro run --pipelines ingest,transform``;
the raw zone is the same CSV that lands on S3, the curated zone the same Hive-partitioned
Parquet), e.g. one week at scale 1 and three days at scale 16 (``--build`` makes them).

How it estimates:

1. The daily selection (``dbt_athena/selectors.yml``: ``daily``) is compiled for the Athena
   target offline, against moto's Glue (``tests/dbt/dbt_harness.py``), with the two fact marts
   registered there so their incremental (daily) form compiles, as on a warehouse that exists.
2. Every compiled statement is parsed (sqlglot, Trino dialect); each table it reads is followed
   through the views (Athena inlines views) down to the Glue tables and the Parquet marts. A
   literal filter on a partition column (``dt``, ``partition_dt``, ``sale_date``,
   ``snapshot_date``, ``table_name``) in the SELECT that reads a relation prunes it to those
   partitions, and the filter carries down through the views to the table beneath; a relation
   read without one (or only through an ``IN (subquery)`` filter, which Athena does not use to
   prune statically) is scanned whole; a filter-less ``SELECT ... LIMIT n`` probe is counted
   as one partition (Athena stops reading early). A table read twice in a statement (a join,
   a subquery) is scanned twice.
3. Bytes are the real file sizes of those partitions in the lake. A whole daily-partitioned
   table is extrapolated to ``--history-days`` days of history as (mean size of one landed
   partition) x (its partitions in that history), since one day's partition does not grow with
   history; unpartitioned tables are taken as landed. Parquet is counted whole, though Athena
   reads only the columns a query needs (so Parquet figures are upper bounds).
4. dbt-athena's statements per model: a view is DDL (free); a table is one CTAS; an
   incremental ``insert_overwrite`` is a CTAS into a temporary table, a ``select distinct`` of
   its partitions (for batching) and an ``insert ... select`` from it (both reading the new
   day, about one fact partition); a data test is one query. Each query is billed at least
   10 MB, and the total is priced at $5 per TB (10^12 bytes).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(PROJECT_ROOT / "tests" / "dbt"))

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")

MIN_BILLED = 10 * 10**6  # Athena bills at least 10 MB per query
DOLLARS_PER_TB = 5.0
PARTITION_COLUMNS = {"dt", "partition_dt", "sale_date", "snapshot_date", "table_name"}
FACTS = {"fct_daily_sales": "sale_date", "fct_inventory_snapshots": "snapshot_date"}
# A filter-less SELECT ... LIMIT n (an emptiness probe) stops at the first file: one partition.
LIMIT_PROBE = "<limit>"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Physical:
    """A table with files: where (lake-relative), partitioned by which keys, in what format."""

    location: str
    keys: tuple[str, ...]
    fmt: str


def physical_tables() -> dict[str, Physical]:
    """The Glue tables of deploy/cfn/02-catalog.yaml and the Parquet marts dbt creates."""
    from tests.athena_offline.harness import glue_tables

    tables = {}
    for t in glue_tables():
        relative = re.sub(r"^s3://[^/]+/", "", t.location).rstrip("/")
        fmt = "parquet" if "Parquet" in t.serde else ("json" if "Json" in t.serde else "csv")
        tables[f"{t.database}.{t.name}"] = Physical(relative, tuple(t.partition_keys), fmt)
    return tables


def compile_daily(run_date: str, workdir: Path) -> dict:
    """The daily selection compiled for Athena (moto's Glue standing in), as a manifest."""
    import boto3
    from dbt_harness import LAKE, athena_moto_endpoint, failures, new_project

    with athena_moto_endpoint() as endpoint:
        glue = boto3.client("glue", endpoint_url=endpoint, region_name="eu-west-1")
        for name, key in FACTS.items():  # the warehouse exists: the facts compile incrementally
            glue.create_table(DatabaseName="retailops_marts", TableInput={
                "Name": name, "TableType": "EXTERNAL_TABLE",
                "Parameters": {"classification": "parquet"},
                "PartitionKeys": [{"Name": key, "Type": "date"}],
                "StorageDescriptor": {"Columns": [], "Location": f"{LAKE}/curated/{name}"}})
        project = new_project(workdir, workdir / "unused-local-lake")
        settings = {"target": "athena", "lake_root": LAKE, "run_date": run_date,
                    "env": {"RETAILOPS_REBUILD_DAYS": run_date}}
        # Every node compiled (the views a daily statement reads are not all in the daily
        # selection), and the daily selection listed.
        with contextlib.redirect_stdout(io.StringIO()):  # dbt ls prints each node
            listed = project.invoke("ls", "--selector", "daily", "--output", "json",
                                    "--output-keys", "unique_id", **settings)
        if not listed.success:
            raise SystemExit(f"dbt ls --selector daily failed: {failures(listed)}")
        daily = {json.loads(line)["unique_id"] for line in listed.result}
        result = project.invoke("compile", "--select", "fqn:*", **settings)
        if not result.success:
            raise SystemExit(f"dbt compile --target athena failed: {failures(result)}")
        manifest = json.loads((project.target_path / "manifest.json").read_text())
        manifest["daily"] = sorted(daily)
        return manifest


def _literals(node) -> list[str]:  # noqa: ANN001 - a sqlglot expression
    from sqlglot import exp

    return [lit.this for lit in node.find_all(exp.Literal) if lit.is_string]


def _filters(select) -> dict[str, set[str]]:  # noqa: ANN001
    """Literal filters on partition columns in a SELECT's WHERE (IN, =, BETWEEN expanded)."""
    from sqlglot import exp

    found: dict[str, set[str]] = {}
    where = select.args.get("where")
    if where is None:
        return found
    for predicate in where.find_all(exp.In, exp.EQ, exp.Between):
        column = predicate.this if not isinstance(predicate, exp.EQ) else (
            predicate.left if isinstance(predicate.left, exp.Column) else predicate.right)
        if not isinstance(column, exp.Column) or column.name not in PARTITION_COLUMNS:
            continue
        if isinstance(predicate, exp.In) and predicate.args.get("query") is not None:
            continue  # IN (subquery): pruned at run time at best, not statically
        values = _literals(predicate.expression if isinstance(predicate, exp.EQ) and
                           predicate.left is column else predicate)
        if isinstance(predicate, exp.Between):
            low, high = (date.fromisoformat(v) for v in values[:2])
            values = [(low + timedelta(days=i)).isoformat() for i in range((high - low).days + 1)]
        if values:
            name = "dt" if column.name in ("partition_dt", "sale_date", "snapshot_date") else (
                column.name)
            found.setdefault(name, set()).update(values)
    return found


def reads(sql: str) -> list[tuple[str, dict[str, set[str]]]]:
    """(database.table, literal partition filters) for every catalog table a statement reads."""
    import sqlglot
    from sqlglot import exp

    out = []
    for statement in sqlglot.parse(sql, read="trino"):
        if statement is None:
            continue
        for table in statement.find_all(exp.Table):
            if table.catalog != "awsdatacatalog":
                continue
            select = table.find_ancestor(exp.Select)
            filters = _filters(select) if select else {}
            if select is not None and select.args.get("limit") is not None and not filters:
                filters = {LIMIT_PROBE: set()}
            out.append((f"{table.db}.{table.name}", filters))
    return out


class Estimator:
    """Bytes each statement scans in one lake, views followed to the files beneath."""

    def __init__(self, lake: Path, manifest: dict, history_days: int):
        self.lake = lake
        self.history_days = history_days
        self.tables = physical_tables()
        self.models = {}
        for node in manifest["nodes"].values():
            if node["resource_type"] != "model":
                continue
            key = f"{node['schema']}.{node['alias']}"
            self.models[key] = node
            if node["config"].get("materialized") != "view":
                keys = tuple(node["config"].get("partitioned_by") or ())
                self.tables[key] = Physical(f"curated/{node['alias']}", keys, "parquet")
        self.views = {k: n["compiled_code"] for k, n in self.models.items()
                      if n["config"].get("materialized") == "view" and n.get("compiled_code")}
        self._sizes: dict[str, dict[tuple, int]] = {}

    def partitions(self, table: Physical) -> dict[tuple[str, ...], int]:
        """Bytes per partition (values of its keys, in order) as landed."""
        if table.location not in self._sizes:
            root = self.lake / table.location
            sizes: dict[tuple, int] = {}
            for path in root.rglob("*") if root.exists() else ():
                if not path.is_file() or path.name.startswith("."):
                    continue
                parts = dict(p.split("=", 1) for p in path.relative_to(root).parts[:-1]
                             if "=" in p)
                if table.keys and not all(k in parts for k in table.keys):
                    # Partition folders named by the key's value (manifests/<table>/dt=...).
                    rel = path.relative_to(root).parts[:-1]
                    parts = {**dict(zip(table.keys, rel)), **parts}
                value = tuple(parts.get(k, "") for k in table.keys)
                sizes[value] = sizes.get(value, 0) + path.stat().st_size
            self._sizes[table.location] = sizes
        return self._sizes[table.location]

    def scan(self, key: str, filters: dict[str, set[str]], seen: tuple = ()) -> dict[str, int]:
        """Bytes per physical table that reading relation ``key`` under ``filters`` scans."""
        if key in self.views and key not in seen:
            total: dict[str, int] = {}
            for child, own in reads(self.views[key]):
                merged = {k: set(v) for k, v in filters.items()}
                for column, values in own.items():
                    merged[column] = merged.get(column, values) & values if (
                        column in merged) else set(values)
                for table, size in self.scan(child, merged, seen + (key,)).items():
                    total[table] = total.get(table, 0) + size  # each read is its own scan
            return total
        table = self.tables.get(key)
        if table is None:
            return {}
        sizes = self.partitions(table)
        if LIMIT_PROBE in filters:
            return {key: min(sizes.values(), default=0)}
        if not table.keys:
            return {key: sum(sizes.values())}
        chosen = {}
        for value, size in sizes.items():
            wanted = all(_matches(k, v, filters) for k, v in zip(table.keys, value))
            if wanted:
                chosen[value] = size
        date_key = next((i for i, k in enumerate(table.keys) if k != "table_name"), None)
        if date_key is not None and "dt" not in filters:
            # Scanned whole: one partition's mean size times its partitions in the history.
            dates = {v[date_key] for v in chosen} or {""}
            per_partition = sum(chosen.values()) / len(dates)
            weekly = table.location.endswith("promotions")  # Mondays only
            return {key: int(per_partition * self.history_days / (7 if weekly else 1))}
        return {key: sum(chosen.values())}


def _matches(key: str, value: str, filters: dict[str, set[str]]) -> bool:
    """Whether a partition's value of ``key`` passes the filters (date filters are kept under
    ``dt`` whatever the column's name: the views rename the partition column)."""
    wanted = filters.get("table_name" if key == "table_name" else "dt")
    return wanted is None or value in wanted


def daily_statements(manifest: dict, run_date: str) -> list[tuple[str, str, str]]:
    """(kind, node name, SQL whose reads are billed) for every query of the daily build."""
    statements = []
    daily = set(manifest["daily"])
    for node in sorted(manifest["nodes"].values(), key=lambda n: n["unique_id"]):
        sql = node.get("compiled_code")
        if not sql or node["unique_id"] not in daily:
            continue
        if node["resource_type"] == "test":
            statements.append(("test", node["name"], sql))
            continue
        materialized = node["config"].get("materialized")
        if materialized == "table":
            statements.append(("ctas", node["name"], sql))
        elif materialized == "incremental":
            statements.append(("ctas", node["name"], sql))
            partition = node["config"]["partitioned_by"][0]
            day_only = (f'select * from "awsdatacatalog"."{node["schema"]}"."{node["alias"]}" '
                        f"where {partition} = date '{run_date}'")
            statements.append(("distinct partitions", node["name"], day_only))
            statements.append(("insert", node["name"], day_only))
    return statements


def estimate(lake: Path, manifest: dict, run_date: str, history_days: int) -> dict:
    estimator = Estimator(lake, manifest, history_days)
    rows = []
    for kind, name, sql in daily_statements(manifest, run_date):
        scanned: dict[str, int] = {}
        for key, filters in reads(sql):
            for table, size in estimator.scan(key, filters).items():
                scanned[table] = scanned.get(table, 0) + size
        bytes_ = sum(scanned.values())
        rows.append({"kind": kind, "node": name, "bytes": bytes_,
                     "billed": max(bytes_, MIN_BILLED), "tables": scanned})
    billed = sum(r["billed"] for r in rows)
    return {"lake": str(lake), "statements": rows, "queries": len(rows),
            "bytes": sum(r["bytes"] for r in rows), "billed": billed,
            "dollars_per_day": billed / 1e12 * DOLLARS_PER_TB}


def build_lake(root: Path, scale: float, days: int) -> Path:
    """Land and build ``days`` days at ``scale`` with kedro (ingest, transform)."""
    sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
    from bench_transform import kedro, write_conf

    conf = write_conf(root, scale)
    last = date(2024, 7, 1) + timedelta(days=days - 1)
    kedro(conf, "--pipelines", "ingest,transform", "--params",
          f"start_date=2024-07-01,end_date={last.isoformat()}")
    return root / "lake"


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", action="append", default=[], help="a landed and built lake")
    parser.add_argument("--build", action="append", default=[], metavar="SCALE:DAYS",
                        help="land and build a lake first (e.g. 1:7 16:3), under --workdir")
    parser.add_argument("--workdir", default=str(PROJECT_ROOT / "data" / "bench_athena"))
    parser.add_argument("--run-date", help="the daily run's day (default: the lake's last day)")
    parser.add_argument("--history-days", type=int, default=365)
    parser.add_argument("--json", help="write every statement's estimate here")
    args = parser.parse_args()

    lakes = [Path(p) for p in args.lake]
    for spec in args.build:
        scale, days = spec.split(":")
        lakes.append(build_lake(Path(args.workdir) / f"scale_{scale}", float(scale), int(days)))
    if not lakes:
        parser.error("give --lake or --build")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for lake in lakes:
            days = sorted(p.name.split("=", 1)[1] for p in (lake / "raw" / "sales").iterdir()
                          if p.name.startswith("dt="))
            run_date = args.run_date or days[-1]
            manifest = compile_daily(run_date, Path(tmp) / lake.parent.name)
            result = estimate(lake, manifest, run_date, args.history_days)
            scale = json.loads((lake / "metadata" / "lake.json").read_text()).get("scale", "?")
            result.update(scale=scale, run_date=run_date, landed_days=len(days))
            results.append(result)
    for r in results:
        print(f"\nscale {r['scale']} (lake of {r['landed_days']} landed days, run date "
              f"{r['run_date']}, whole tables extrapolated to {args.history_days} days):")
        for s in sorted(r["statements"], key=lambda s: -s["bytes"]):
            print(f"  {s['kind']:<19} {s['node']:<38} {_mb(s['bytes']):>12}  "
                  + ", ".join(f"{t} {_mb(b)}" for t, b in sorted(s["tables"].items())))
        print(f"  {r['queries']} queries scan {_mb(r['bytes'])}; billed {_mb(r['billed'])} "
              f"(10 MB minimum each) = ${r['dollars_per_day']:.4f} per day, "
              f"${r['dollars_per_day'] * 365:.2f} per year at $5/TB")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
