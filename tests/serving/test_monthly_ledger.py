"""The defect ledger reaches the readers month by month: a publish exports again only the months
whose ledger files changed, so a day's publish reads the same few files after 900 days of
history as after 30, and the readers still see exactly the warehouse's ledger.

The warehouse here holds ``staging.stg_defects`` as dbt builds it on DuckDB: a view over one
ledger CSV per day (``metadata/defects/dt=<day>/defects.csv``, hive-partitioned) and the
dimension ledger (one file, no day)."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from retailops.warehouse.serving import PublishError, publish_serving

FIRST = date(2024, 7, 1)
LEDGER = {"staging.stg_defects": {"by": "partition_dt", "lake_folder": "metadata/defects",
                                  "suffix": ".csv"}}
HEADER = "dt,table_name,defect_type,record_key,column_name,recorded_value,true_value\n"


def _land_ledger(lake: Path, day: date, rows: int, value: str = "-1") -> Path:
    """One day's ledger file, as ingest lands it (written whole under another name, renamed)."""
    path = lake / "metadata" / "defects" / f"dt={day.isoformat()}" / "defects.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = HEADER + "".join(f"{day},inventory,negative_on_hand,{day}|S{i:02d}|P1,quantity,"
                            f"{value},{i}\n" for i in range(rows))
    staged = path.with_name(".tmp-defects.csv")
    staged.write_text(body)
    os.replace(staged, path)
    return path


def _ledger_view(lake: Path) -> str:
    """``staging.stg_defects`` as dbt compiles it for DuckDB (same columns, same source)."""
    return f"""
        create or replace view staging.stg_defects as
        with facts as (
            select dt as defect_dt, table_name, defect_type, record_key, column_name,
                   recorded_value, true_value, dt
            from read_csv('{lake}/metadata/defects/dt=*/defects.csv', header = true,
                          hive_partitioning = true, hive_types_autocast = false,
                          columns = {{'dt': 'VARCHAR', 'table_name': 'VARCHAR',
                                     'defect_type': 'VARCHAR', 'record_key': 'VARCHAR',
                                     'column_name': 'VARCHAR', 'recorded_value': 'VARCHAR',
                                     'true_value': 'VARCHAR'}})
        ),
        unioned as (
            select 'facts' as ledger, defect_dt, table_name, defect_type, record_key,
                   column_name, recorded_value, true_value, dt as partition_dt from facts
            union all
            select 'dimensions', null, 'suppliers', 'messy_supplier_text', 'SUP001',
                   'lead_time', '7 days', '7', cast(null as varchar)
        )
        select ledger, try_cast(defect_dt as date) as defect_date, table_name, defect_type,
               record_key, column_name, recorded_value, true_value, partition_dt
        from unioned
    """


def _platform(root: Path, days: int) -> tuple[Path, Path, Path]:
    """A lake with ``days`` days of ledger (3 rows a day), a warehouse with one mart and the
    ledger view, and where the serving file goes."""
    lake, warehouse = root / "lake", root / "warehouse" / "retailops.duckdb"
    warehouse.parent.mkdir(parents=True)
    (lake / "curated" / "dim_stores").mkdir(parents=True)
    for k in range(days):
        _land_ledger(lake, FIRST + timedelta(days=k), rows=3)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts; create schema staging")
        con.execute("create table marts.dim_stores as select i as store_id from range(3) t(i)")
        con.execute(f"copy marts.dim_stores to '{lake}/curated/dim_stores/dim_stores.parquet' "
                    "(format parquet)")
        con.execute(_ledger_view(lake))
    return lake, warehouse, warehouse.with_name("serving.duckdb")


def _rows(path: Path, sql: str, read_only: bool = True) -> list[tuple]:
    with duckdb.connect(str(path), read_only=read_only) as con:
        return con.execute(sql).fetchall()


LEDGER_ROWS = "select * from staging.stg_defects order by all"


def _served_is_the_warehouse(warehouse: Path, serving: Path) -> None:
    built, served = _rows(warehouse, LEDGER_ROWS), _rows(serving, LEDGER_ROWS)
    assert served == built and built
    columns = ("select column_name, data_type from information_schema.columns "
               "where table_schema = 'staging' and table_name = 'stg_defects' "
               "order by ordinal_position")
    assert _rows(serving, columns) == _rows(warehouse, columns)


@pytest.mark.parametrize("history", [30, 900])
def test_a_new_days_publish_exports_one_month_whatever_the_history(tmp_path, history):
    lake, warehouse, serving = _platform(tmp_path, history)
    first = publish_serving(warehouse, serving, lake, copied_relations=(),
                            monthly_relations=LEDGER)
    months = len({(FIRST + timedelta(days=k)).strftime("%Y-%m") for k in range(history)})
    assert first.months_exported == months
    assert first.rows["staging.stg_defects"] == 3 * history + 1
    _served_is_the_warehouse(warehouse, serving)

    # The next day lands: its month alone is exported again (one or two months' files read,
    # whether the history holds 30 days or 900).
    new_day = FIRST + timedelta(days=history)
    _land_ledger(lake, new_day, rows=2)
    second = publish_serving(warehouse, serving, lake, copied_relations=(),
                             monthly_relations=LEDGER)
    assert second.months_exported == 1
    assert second.rows["staging.stg_defects"] == 3 * history + 2 + 1
    _served_is_the_warehouse(warehouse, serving)


def test_an_unchanged_month_is_not_read_again(tmp_path):
    """Proof by content: a ledger file rewritten with its size and modification time kept is
    not read by the next publish (the month keeps its exported rows), while a file landed
    again (a new modification time, as every lake write gives) is."""
    lake, warehouse, serving = _platform(tmp_path, 62)  # July and August 2024
    publish_serving(warehouse, serving, lake, copied_relations=(), monthly_relations=LEDGER)
    july = lake / "metadata" / "defects" / "dt=2024-07-03" / "defects.csv"
    kept = os.stat(july)
    july.write_text(july.read_text().replace(",-1,", ",-7,"))  # same size, other bytes
    os.utime(july, ns=(kept.st_atime_ns, kept.st_mtime_ns))
    _land_ledger(lake, date(2024, 9, 1), rows=1)

    third = publish_serving(warehouse, serving, lake, copied_relations=(),
                            monthly_relations=LEDGER)
    assert third.months_exported == 1  # September only
    recorded = "select count(*) from staging.stg_defects where recorded_value = '-7'"
    assert _rows(serving, recorded) == [(0,)]  # July was not read again ...
    assert _rows(warehouse, recorded) == [(3,)]  # ... though the warehouse's view sees it

    # August 10 is re-landed with other values: August is exported again, and only August.
    _land_ledger(lake, date(2024, 8, 10), rows=3, value="-9")
    fourth = publish_serving(warehouse, serving, lake, copied_relations=(),
                             monthly_relations=LEDGER)
    assert fourth.months_exported == 1
    assert _rows(serving, "select count(*) from staging.stg_defects "
                          "where recorded_value = '-9'") == [(3,)]


def test_a_removed_day_and_a_changed_definition_are_served_as_the_warehouse(tmp_path):
    lake, warehouse, serving = _platform(tmp_path, 40)
    publish_serving(warehouse, serving, lake, copied_relations=(), monthly_relations=LEDGER)
    removed = lake / "metadata" / "defects" / "dt=2024-07-05"
    (removed / "defects.csv").unlink()
    removed.rmdir()
    again = publish_serving(warehouse, serving, lake, copied_relations=(),
                            monthly_relations=LEDGER)
    assert again.months_exported == 1
    _served_is_the_warehouse(warehouse, serving)

    # The model changes (a new column): every month is exported again, none is trusted.
    with duckdb.connect(str(warehouse)) as con:
        view = _ledger_view(lake).replace("partition_dt\n        from unioned",
                                          "partition_dt, 1 as version\n        from unioned")
        assert view != _ledger_view(lake)
        con.execute(view)
    changed = publish_serving(warehouse, serving, lake, copied_relations=(),
                              monthly_relations=LEDGER)
    assert changed.months_exported == 2
    _served_is_the_warehouse(warehouse, serving)


def test_old_month_exports_are_pruned_with_their_snapshots(tmp_path):
    lake, warehouse, serving = _platform(tmp_path, 5)
    for k in range(4):
        _land_ledger(lake, FIRST + timedelta(days=5 + k), rows=1)
        publish_serving(warehouse, serving, lake, copied_relations=(), monthly_relations=LEDGER,
                        keep_snapshots=2)
    versions = list((serving.with_name("serving") / "partitions" / "staging.stg_defects"
                     / "2024-07").iterdir())
    assert len(versions) == 2  # one per kept snapshot: July changed every time
    _served_is_the_warehouse(warehouse, serving)


def test_a_monthly_relation_needs_its_column_and_folder(tmp_path):
    lake, warehouse, serving = _platform(tmp_path, 3)
    with pytest.raises(PublishError, match="staging.stg_defects has no column 'dt_missing'"):
        publish_serving(warehouse, serving, lake, copied_relations=(), monthly_relations={
            "staging.stg_defects": {"by": "dt_missing", "lake_folder": "metadata/defects"}})
    with pytest.raises(PublishError, match="needs `by`"):
        publish_serving(warehouse, serving, lake, copied_relations=(),
                        monthly_relations={"staging.stg_defects": {"by": "partition_dt"}})
    with pytest.raises(PublishError, match="staging.no_such_ledger is not in the warehouse"):
        publish_serving(warehouse, serving, lake, copied_relations=(), monthly_relations={
            "staging.no_such_ledger": {"by": "x", "lake_folder": "metadata/defects"}})
    assert not serving.exists()
