"""The operator's day: Metabase (or a notebook kernel) holds a read-only connection open all
day, and the scheduled daily run must still succeed.

Each reader is a second process holding its DuckDB connection open across the run, as
Metabase's connection pool does. Held on the warehouse file itself, it stops any writer from
opening that file ("Could not set lock on file": the failure readers caused before the serving
file; dbt opens the warehouse exactly so). Held on the serving file, the daily run succeeds,
publishes the new day, and the held connection keeps answering.
"""

from __future__ import annotations

import duckdb
import pytest

from tests.conftest import run_kedro
from tests.serving.conftest import LAST_DAY, NEXT_DAY, SCALE


def _daily_run(platform, day: str):
    return run_kedro("run", "--conf-source", str(platform.conf), "--pipelines", "daily",
                     "--params", f"run_date={day},scale={SCALE}")


def _newest_sale_day(path) -> str:
    with duckdb.connect(str(path), read_only=True) as con:
        return str(con.execute("select max(sale_date) from marts.fct_daily_sales").fetchall()[0][0])


def test_a_daily_run_succeeds_while_a_reader_holds_the_serving_file(tiny_platform, hold_open):
    # The failure mode: a reader holding the warehouse file blocks its writer (dbt opens the
    # file read-write just like this; a daily run then fails with the same message).
    on_warehouse = hold_open(tiny_platform.warehouse)
    assert on_warehouse.ask("query") == f"ok {LAST_DAY}"
    with pytest.raises(duckdb.IOException, match="Could not set lock on file"):
        duckdb.connect(str(tiny_platform.warehouse))
    on_warehouse.close()

    # Readers on the serving file: the daily run succeeds while they hold it.
    on_serving = hold_open(tiny_platform.serving)
    assert on_serving.ask("query") == f"ok {LAST_DAY}"
    with pytest.raises(duckdb.IOException, match="Could not set lock on file"):
        duckdb.connect(str(tiny_platform.serving))  # so publishing must never open it to write
    held_file = tiny_platform.serving.stat().st_ino
    run = _daily_run(tiny_platform, NEXT_DAY)
    assert run.returncode == 0, run.stderr[-4000:]

    # A new connection sees the new day; the file was swapped, not written under the reader.
    assert _newest_sale_day(tiny_platform.serving) == NEXT_DAY
    assert tiny_platform.serving.stat().st_ino != held_file
    # The held connection still answers, and reads the new publication through `current`.
    assert on_serving.ask("query") == f"ok {NEXT_DAY}"
    answers, errors, *first_error = on_serving.ask("stats").split(" ", 3)[1:]
    assert int(answers) > 0 and int(errors) == 0, first_error


def test_the_warehouse_and_the_serving_file_hold_the_same_marts(tiny_platform):
    """Every mart view has the warehouse table's columns (names, order, types) and rows."""
    with duckdb.connect(str(tiny_platform.warehouse), read_only=True) as built:
        marts = [name for (name,) in built.execute(
            "select table_name from duckdb_tables() where schema_name = 'marts' "
            "order by table_name").fetchall()]
        built_tables = {m: built.execute(f"select * from marts.{m}").df() for m in marts}
        built_types = {m: built.execute(f"describe marts.{m}").fetchall() for m in marts}
        ledger = built.execute("select * from staging.stg_defects").df()
    assert {"dim_date", "dim_products", "dim_stores", "fct_daily_sales",
            "fct_inventory_snapshots", "mart_supplier_performance"} <= set(marts)
    with duckdb.connect(str(tiny_platform.serving), read_only=True) as served:
        for mart in marts:
            assert served.execute(f"describe marts.{mart}").fetchall() == built_types[mart]
            frame = served.execute(f"select * from marts.{mart}").df()
            _assert_same_rows(frame, built_tables[mart], mart)
        _assert_same_rows(served.execute("select * from staging.stg_defects").df(), ledger,
                          "stg_defects")


def _assert_same_rows(left, right, name):
    import pandas as pd

    assert len(left) == len(right) > 0, name
    ordered = list(left.columns)
    pd.testing.assert_frame_equal(
        left.sort_values(ordered, ignore_index=True, na_position="first"),
        right[ordered].sort_values(ordered, ignore_index=True, na_position="first"),
        obj=name)
