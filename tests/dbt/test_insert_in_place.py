"""A daily (incremental) build on DuckDB inserts the rebuilt days' rows once, straight from the
model's SELECT, and leaves the same rows as a full build.

The base tables and the facts use the custom strategy `insert_rebuilt_rows`
(macros/materializations.sql): dbt's temporary table stays empty (the incremental filter holds a
marker that selects nothing) and the strategy's insert runs the model's SELECT with the marker
lifted. The day rebuilt here already holds its rows, as when a day is re-landed: they must be
replaced, not doubled, and equal what the full build wrote.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from dbt_harness import DbtProject, failures, new_project

DAY = "2024-07-05"  # the module lake's last day
MODELS = ("base_sales", "base_inventory", "base_shipments", "stg_deliveries", "fct_daily_sales",
          "fct_inventory_snapshots")
TABLES = {
    "staging.base_sales": "dt",
    "staging.base_inventory": "dt",
    "staging.base_shipments": "dt",
    "staging.stg_deliveries": "dt",
    "marts.fct_daily_sales": "cast(sale_date as varchar)",
    "marts.fct_inventory_snapshots": "cast(snapshot_date as varchar)",
}


def rows(project: DbtProject, table: str) -> list[tuple]:
    """Every row, sorted; money rounded (a parallel sum may add in another order), a missing
    value as None (pandas reads SQL nulls of a float column as NaN, which equals nothing)."""
    frame = project.query(f"select * from {table} order by all")
    return [tuple((None if v != v else round(v, 6)) if isinstance(v, float) else v for v in row)
            for row in frame.itertuples(index=False)]


@pytest.fixture(scope="module")
def built(module_lake: Path, tmp_path_factory: pytest.TempPathFactory):
    project = new_project(tmp_path_factory.mktemp("in_place"), module_lake)
    result = project.invoke("run", "--select", "+fct_daily_sales", "+fct_inventory_snapshots",
                             "+stg_deliveries")
    assert result.success, failures(result)
    full = {table: rows(project, table) for table in TABLES}
    daily = project.invoke("run", "--select", *MODELS, run_date=None,
                           env={"RETAILOPS_RUN_DATE": DAY, "RETAILOPS_REBUILD_DAYS": DAY})
    assert daily.success, failures(daily)
    return project, full, daily


def test_a_daily_build_leaves_the_rows_of_a_full_build(built) -> None:
    project, full, _ = built
    for table in TABLES:
        assert rows(project, table) == full[table], table


def test_the_rebuilt_day_holds_each_landed_sale_line_once(built, module_lake: Path) -> None:
    project, _, _ = built
    with open(module_lake / "raw" / "sales" / f"dt={DAY}" / "sales.csv", newline="") as handle:
        landed = sorted(int(row["sale_id"]) for row in csv.DictReader(handle))
    stored = project.query(f"select sale_id from staging.base_sales where dt = '{DAY}' order by 1")
    assert landed and stored["sale_id"].tolist() == landed


def test_each_model_inserts_its_select_without_a_filled_temporary_table(built) -> None:
    project, _, daily = built
    ran = {item.node.name: item.node.original_file_path for item in daily.result.results}
    assert set(MODELS) <= set(ran)
    for name in MODELS:
        sql = (project.target_path / "run" / "retailops" / ran[name]).read_text()
        assert "as rebuilt_rows" in sql, name  # the strategy's insert of the model's SELECT
        assert "__dbt_tmp" not in sql, name  # nothing read back from the temporary table
        assert "1 = 0 /* retailops" not in sql, name  # the marker lifted in the insert
        assert f"'{DAY}'" in sql, name  # still limited to the rebuilt day
