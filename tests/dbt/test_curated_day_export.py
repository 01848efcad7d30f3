"""A daily build's curated Parquet files are the files a partitioned COPY writes.

On a rebuild of some days, export_curated (macros/materializations.sql) writes each rebuilt
day's rows straight to <model>/<date column>=<day>/data_0.parquet with one plain COPY, instead
of one COPY partitioned by the date column. Here a real daily build of three days (one of them
removed from the lake) is compared with what DuckDB's partitioned COPY writes from the same
table: the same day folders and file names, each file's columns, types and rows, the date read
back through hive partitioning, and no folder for the day without rows. (The row order within
a file is not compared: the partitioned COPY's differs from run to run.)
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from dbt_harness import failures, hide_manifests, new_project

FACTS = {"fct_daily_sales": "sale_date", "fct_inventory_snapshots": "snapshot_date"}
REBUILT = ("2024-07-03", "2024-07-04", "2024-07-05")
REMOVED = "2024-07-03"  # its manifests hidden: no rows any more after the daily build
KEPT = ("2024-07-01", "2024-07-02")


def files_under(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def hive_rows(folder: Path, date_column: str) -> tuple[list, list]:
    """Columns (name, type) and rows, sorted, of the rebuilt days read through hive partitioning."""
    days = ", ".join(f"date '{day}'" for day in REBUILT)
    relation = duckdb.sql(f"select * from read_parquet('{folder}/*/*.parquet', hive_partitioning=true) "
                          f"where {date_column} in ({days}) order by all")
    return list(zip(relation.columns, map(str, relation.types))), relation.fetchall()


@pytest.fixture(scope="module")
def exported(module_lake: Path, tmp_path_factory: pytest.TempPathFactory):
    """A full build, then a daily build of REBUILT with REMOVED's manifests hidden; then, from
    the warehouse's tables, the same days written by one COPY partitioned by the date column."""
    tmp = tmp_path_factory.mktemp("day_export")
    project = new_project(tmp, module_lake)
    models = ["+" + name for name in FACTS]
    result = project.invoke("run", "--select", *models)
    assert result.success, failures(result)
    before = {name: files_under(module_lake / "curated" / name) for name in FACTS}
    stash = tmp / "stash"
    for table in ("sales", "inventory", "shipments"):
        (stash / table).parent.mkdir(parents=True, exist_ok=True)
    hide_manifests(module_lake, REMOVED, stash)
    daily = project.invoke("run", "--select", "stg_manifests", "base_sales", "base_inventory",
                           "stg_sales", "stg_inventory", *FACTS, run_date=None,
                           env={"RETAILOPS_RUN_DATE": REBUILT[-1],
                                "RETAILOPS_REBUILD_DAYS": ",".join(REBUILT)})
    assert daily.success, failures(daily)
    expected = tmp / "partitioned"
    expected.mkdir()
    days = ", ".join(f"date '{day}'" for day in REBUILT)
    with duckdb.connect(str(project.duckdb_path), read_only=True) as con:
        for name, date_column in FACTS.items():
            con.execute(f"copy (select * from marts.{name} where {date_column} in ({days})) "
                        f"to '{expected / name}' (format parquet, partition_by ({date_column}), "
                        f"overwrite_or_ignore, filename_pattern 'data_{{i}}')")
    return module_lake / "curated", expected, before


@pytest.mark.parametrize("name", FACTS)
def test_the_rebuilt_days_have_the_partitioned_copys_folders_and_file_names(exported, name) -> None:
    curated, expected, before = exported
    date_column = FACTS[name]
    written = [f for f in files_under(curated / name) if f.split("/")[0].split("=")[1] in REBUILT]
    assert written == files_under(expected / name)
    assert written == [f"{date_column}={day}/data_0.parquet" for day in REBUILT if day != REMOVED]
    # The removed day's folder, written by the full build, is gone; the other days are untouched.
    assert f"{date_column}={REMOVED}/data_0.parquet" in before[name]
    assert not (curated / name / f"{date_column}={REMOVED}").exists()
    kept = [f"{date_column}={day}/data_0.parquet" for day in KEPT]
    assert [f for f in files_under(curated / name) if f.split("/")[0].split("=")[1] in KEPT] == kept


@pytest.mark.parametrize("name", FACTS)
def test_each_days_file_holds_the_same_columns_types_and_rows(exported, name) -> None:
    curated, expected, _ = exported
    date_column = FACTS[name]
    for day in REBUILT:
        if day == REMOVED:
            continue
        relative = f"{date_column}={day}/data_0.parquet"
        ours, theirs = pq.read_table(curated / name / relative), pq.read_table(expected / name / relative)
        assert date_column not in ours.schema.names
        # Names, order, types and nullability (OPTIONAL in the file, as the partitioned COPY
        # writes every column, though this table holds no null).
        assert [(f.name, str(f.type), f.nullable) for f in ours.schema] == \
            [(f.name, str(f.type), f.nullable) for f in theirs.schema]
        assert all(f.nullable for f in ours.schema)
        assert ours.num_rows == theirs.num_rows > 0
        key = [(column, "ascending") for column in ours.schema.names]
        assert ours.sort_by(key).equals(theirs.sort_by(key)), relative


@pytest.mark.parametrize("name", FACTS)
def test_the_date_reads_back_through_hive_partitioning_as_before(exported, name) -> None:
    curated, expected, _ = exported
    columns, rows = hive_rows(curated / name, FACTS[name])
    assert columns[-1] == (FACTS[name], "DATE")
    assert (columns, rows) == hive_rows(expected / name, FACTS[name])
    assert rows
