"""What the warehouse was built from, and which days the next build must redo.

Every successful build records the partitions it built: (table, dt, sha256 of the data the
manifest commits to), plus the sha256 of each dimension file (dt ''). The next run compares the
lake's current manifests with that record:

- nothing recorded (a new or deleted warehouse), the marts missing, a dimension file changed,
  or a full refresh asked for: a plain full build;
- otherwise the days of every new, changed or removed partition (plus the run's own day) are
  rebuilt: the DuckDB base tables and the fact marts' days, on both engines; and when a local
  lake moved to another folder since (``LOCATION_TABLE``), DuckDB's dimension views with them
  (``relocated``).

So any sequence of runs, re-landings and removals converges to what one clean full build of the
same raw zone gives. The record lives beside the marts: on DuckDB a small table in the
warehouse file (deleting the file resets it), on Athena a JSON file under the lake's metadata/.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable, Mapping

from retailops.lake import layout
from retailops.lake.partitions import Manifest
from retailops.lake.storage import Lake
from retailops.warehouse.engines import Warehouse

# A built partition: (table, dt) -> sha256; dimension files carry dt "".
Built = dict[tuple[str, str], str]

STATE_TABLE = "main.retailops_built_partitions"
STATE_FILE = "metadata/warehouse/built_partitions.json"
# Where a local lake was when the warehouse was last built (its absolute path, one row), on
# DuckDB only. DuckDB's dimension views (stg_products, stg_stores, stg_suppliers) read the
# lake's files by path and a daily build leaves them as they are: after lake_root moved, it
# read the old folder (or failed on its missing files). A moved lake's plan is ``relocated``:
# the build re-creates those views too. A table of its own, not a row of STATE_TABLE: code
# from before it reads the partition record as it always did (a row it does not know would
# read as a changed dimension file there, a full build). No row (a warehouse built before it
# existed) is not a move; S3 lakes are not recorded (Athena's views read Glue tables).
LOCATION_TABLE = "main.retailops_lake_location"
# Models whose absence means the warehouse was never fully built (or was dropped).
REQUIRED_MODELS = (("marts", "dim_date"), ("marts", "fct_daily_sales"),
                   ("marts", "fct_inventory_snapshots"))


def current_partitions(lake: Lake, manifests: Mapping[str, Mapping[date, Manifest]],
                       dimension_tables: Iterable[str]) -> Built:
    """The lake as the next build would read it: each complete fact partition's sha256 (from
    its manifest, as ``read_manifests`` gives them per table) and each dimension file's sha256.
    A manifest that does not parse is an incomplete partition, as for dbt's readers."""
    found: Built = {}
    for table, committed in manifests.items():
        for day, manifest in committed.items():
            found[(table, day.isoformat())] = manifest.sha256
    for table in dimension_tables:
        try:
            data = lake.read_bytes(layout.dimension_file(table))
        except FileNotFoundError:
            continue
        found[(table, "")] = hashlib.sha256(data).hexdigest()
    return found


@dataclass(frozen=True)
class RebuildPlan:
    """What the next build redoes. ``days`` is empty for a full build."""

    full: bool
    reason: str
    days: tuple[str, ...]
    new: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    current: Mapping[tuple[str, str], str]
    relocated: bool = False  # a days' build whose local lake moved (LOCATION_TABLE)

    def as_dict(self) -> dict[str, Any]:
        """The plan as the pipeline passes it on (plain values, JSON-friendly)."""
        return {"full": self.full, "reason": self.reason, "days": list(self.days),
                "new": list(self.new), "changed": list(self.changed),
                "removed": list(self.removed), "relocated": self.relocated,
                "current": [[t, d, s] for (t, d), s in sorted(self.current.items())]}


def plan(current: Built, built: Built, run_date: str | None, warehouse_ready: bool,
         full_refresh: bool = False, moved: bool = False) -> RebuildPlan:
    """Compare the lake with what was built: a full build, or the days to rebuild.
    ``moved``: the local lake is not where the last build found it (``lake_moved``); a days'
    build then re-creates the dimension views too (``relocated``)."""
    def full(reason: str) -> RebuildPlan:
        return RebuildPlan(True, reason, (), (), (), (), dict(current))

    if full_refresh:
        return full("a full refresh was asked for")
    if not run_date:
        return full("no run date: every model over every complete day")
    if not built or not warehouse_ready:
        return full("nothing built yet")
    dimensions = {k: v for k, v in current.items() if k[1] == ""}
    if dimensions != {k: v for k, v in built.items() if k[1] == ""}:
        return full("a dimension file changed")
    now = {k: v for k, v in current.items() if k[1]}
    then = {k: v for k, v in built.items() if k[1]}
    new = {d for (t, d) in now.keys() - then.keys()}
    removed = {d for (t, d) in then.keys() - now.keys()}
    changed = {k[1] for k in now.keys() & then.keys() if now[k] != then[k]}
    days = new | removed | changed
    if any(d == str(run_date) for (_, d) in now):
        days.add(str(run_date))
    current_days = {d for (_, d) in now}
    if current_days and current_days <= (new | changed):
        # Every day is new or changed: a plain full build is the same and simpler.
        return RebuildPlan(True, "every day changed", (), tuple(sorted(new)),
                           tuple(sorted(changed)), tuple(sorted(removed)), dict(current))
    reason = "days new, changed or removed since the last build"
    if moved:
        reason += "; the lake moved to another folder: its dimension views are re-created"
    return RebuildPlan(False, reason, tuple(sorted(days)), tuple(sorted(new)),
                       tuple(sorted(changed)), tuple(sorted(removed)), dict(current), moved)


def load_built(warehouse: Warehouse, lake: Lake) -> Built:
    """What the last successful build recorded (empty when nothing was)."""
    if warehouse.engine == "duckdb":
        if not warehouse.has_table("main", STATE_TABLE.split(".", 1)[1]):
            return {}
        rows = warehouse.query(f"select table_name, dt, sha256 from {STATE_TABLE}")
        return {(r.table_name, r.dt): r.sha256 for r in rows.itertuples()}
    try:
        payload = json.loads(lake.read_bytes(STATE_FILE))
    except FileNotFoundError:
        return {}
    except ValueError:
        return {}  # an unreadable record: rebuild everything rather than trust it
    return {(t, d): s for t, d, s in payload.get("partitions", [])}


def lake_moved(warehouse: Warehouse, lake: Lake) -> bool:
    """Whether the last build recorded a local lake at another path than ``lake``'s (False
    when nothing was recorded: an S3 lake, Athena, or a warehouse built before the record)."""
    if warehouse.engine != "duckdb" or lake.is_s3 \
            or not warehouse.has_table("main", LOCATION_TABLE.split(".", 1)[1]):
        return False
    recorded = [r.lake_root for r in warehouse.query(
        f"select lake_root from {LOCATION_TABLE}").itertuples()]
    return bool(recorded) and recorded[0] != lake.root


def record_built(warehouse: Warehouse, lake: Lake | None, built: Built) -> None:
    """Record what a successful build built (replacing the previous record). On DuckDB a local
    ``lake``'s folder is recorded too (LOCATION_TABLE; None records none); Athena's record is
    written to ``lake``."""
    rows = sorted((t, d, s) for (t, d), s in built.items())
    if warehouse.engine == "duckdb":
        import duckdb

        import pyarrow as pa

        # One columnar insert: executemany costs ~1 s for a year's ~1,500 rows.
        columns = list(zip(*rows)) if rows else [(), (), ()]
        built_rows = pa.table({name: pa.array(values, pa.string()) for name, values
                               in zip(("table_name", "dt", "sha256"), columns)})
        # Closing this connection checkpoints the file; with no vacuum task it writes this
        # table and rewrites no other table's row groups, which a daily build leaves unmerged
        # on purpose (build_storage_settings in dbt_athena/macros/materializations.sql): with
        # DuckDB's default the merges dbt's close skipped ran here instead (docs/dbt.md).
        with duckdb.connect(warehouse.path,  # type: ignore[attr-defined]
                            config={"max_vacuum_tasks": 0}) as con:
            con.register("built_rows", built_rows)
            con.execute(f"create or replace table {STATE_TABLE} as "
                        "select table_name, dt, sha256 from built_rows")
            if lake is not None and not lake.is_s3:
                con.execute(f"create or replace table {LOCATION_TABLE} as "
                            "select cast(? as varchar) as lake_root", [lake.root])
        return
    body = json.dumps({"partitions": rows}, separators=(",", ":")).encode()
    lake.write_bytes(STATE_FILE, body)
