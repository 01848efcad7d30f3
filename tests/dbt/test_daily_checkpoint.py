"""A daily build's checkpoint writes the days it appended and rewrites no other row group.

dbt closes the DuckDB file at the end of a build, and closing checkpoints it. DuckDB's
checkpoint also "vacuums": wherever up to three adjacent row groups fit in fewer, it rewrites
them whole, which after daily appends meant the last days of the inventory and shipments tables
every other run (docs/scale.md, finding 18). A build of listed days therefore sets
``max_vacuum_tasks = 0`` in its on-run-start hook (build_storage_settings in
macros/materializations.sql); a full build keeps DuckDB's default.

Here, on a real five-day lake: a full build, then three daily builds rebuilding one day each.
Each daily build sends the setting, the full build does not (the SQL dbt sends, as its events
report it); after the daily builds every rebuilt day of the base and fact inventory tables lies
in a row group of its own (with the default vacuum, DuckDB merges each appended day into the
full build's row group, whose rows of that day were deleted); and the tables hold the same rows
as after the full build. Recording the build (build_state.record_built, a read-write
connection of the transform stage's own) does not merge them either: with DuckDB's default its
checkpoint ran the merges dbt's had skipped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dbt_harness import failures, new_project

from retailops.warehouse.build_state import record_built
from retailops.warehouse.engines import DuckDBWarehouse

SETTING = "set global max_vacuum_tasks = 0"
REBUILT = ("2024-07-03", "2024-07-04", "2024-07-05")
TABLES = {"staging.base_inventory": "dt", "marts.fct_inventory_snapshots": "snapshot_date"}
MODELS = ("stg_manifests", "base_inventory", "stg_inventory", "stg_products",
          "fct_inventory_snapshots")


def sent_sql(events: list[Any]) -> list[str]:
    """The statements dbt sent to the warehouse, from its SQLQuery events (without the comment
    dbt puts first)."""
    return [re.sub(r"^/\*.*?\*/", "", event.data.sql, flags=re.S).strip()
            for event in events if event.info.name == "SQLQuery"]


def row_groups(path: Path, table: str, column: str) -> list[tuple[str, str]]:
    """Each row group of ``table``: the least and greatest ``column``, from the statistics of
    its data segments (a column's validity segments carry no values)."""
    with duckdb.connect(str(path), read_only=True) as con:
        found = con.execute(
            f"select row_group_id, stats from pragma_storage_info('{table}') "
            f"where column_name = '{column}' and segment_type <> 'VALIDITY'").fetchall()
    groups: dict[int, list[str]] = {}
    for group, stats in found:
        groups.setdefault(group, []).extend((str(stats["min"])[:10], str(stats["max"])[:10]))
    return [(min(values), max(values)) for _, values in sorted(groups.items())]


def table_rows(path: Path, table: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"select * from {table} order by all").fetchall()


@pytest.fixture(scope="module")
def builds(module_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = new_project(tmp_path_factory.mktemp("daily_checkpoint"), module_lake)
    full_events: list[Any] = []
    full = project.invoke("run", "--select", *MODELS, callbacks=[full_events.append])
    assert full.success, failures(full)
    after_full = {table: table_rows(project.duckdb_path, table) for table in TABLES}
    layout_after_full = {table: row_groups(project.duckdb_path, table, column)
                         for table, column in TABLES.items()}
    daily_events = []
    for day in REBUILT:
        events: list[Any] = []
        daily = project.invoke("run", "--select", *MODELS, callbacks=[events.append],
                               env={"RETAILOPS_RUN_DATE": day, "RETAILOPS_REBUILD_DAYS": day})
        assert daily.success, failures(daily)
        daily_events.append(events)
    layout_after_daily = {table: row_groups(project.duckdb_path, table, column)
                          for table, column in TABLES.items()}
    # What the transform stage does next: record the build in the warehouse, through a
    # read-write connection of its own, whose close checkpoints the file again.
    record_built(DuckDBWarehouse(str(project.duckdb_path)), None,
                 {("inventory", day): "sha" for day in REBUILT})
    return {"project": project, "full_events": full_events, "daily_events": daily_events,
            "after_full": after_full, "layout_after_full": layout_after_full,
            "layout_after_daily": layout_after_daily}


def test_each_daily_build_sends_the_setting_and_the_full_build_does_not(builds) -> None:
    assert not [sql for sql in sent_sql(builds["full_events"]) if "max_vacuum_tasks" in sql]
    for events in builds["daily_events"]:
        assert [sql for sql in sent_sql(events) if "max_vacuum_tasks" in sql] == [SETTING]


@pytest.mark.parametrize("table", TABLES)
def test_every_rebuilt_day_keeps_a_row_group_of_its_own(builds, table) -> None:
    project = builds["project"]
    before = builds["layout_after_full"][table]
    after = row_groups(project.duckdb_path, table, TABLES[table])
    # The full build's row groups are still there (only some of their rows deleted), and
    # one row group per rebuilt day follows them, holding that day alone.
    assert after[:len(before)] == before
    assert after[len(before):] == [(day, day) for day in REBUILT]


@pytest.mark.parametrize("table", TABLES)
def test_recording_the_build_rewrites_no_row_group(builds, table) -> None:
    """record_built's own checkpoint does not run the merges the daily builds skipped."""
    after = row_groups(builds["project"].duckdb_path, table, TABLES[table])
    assert after == builds["layout_after_daily"][table]


@pytest.mark.parametrize("table", TABLES)
def test_the_tables_hold_the_full_builds_rows(builds, table) -> None:
    assert table_rows(builds["project"].duckdb_path, table) == builds["after_full"][table]
