"""``Warehouse.rows``: what validation reads, as plain Python values on both engines.

DuckDB answers through ``fetchall`` (no pandas); Athena's frames (awswrangler, pandas'
nullable types) go through ``frame_rows``. Both must give the checks the same values a frame
gave them before: NULL as None, DECIMAL as float.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from retailops.warehouse.engines import DuckDBWarehouse, frame_rows

SQL = ("select * from (values (date '2025-07-01', 'S01', 3, 0.5 * 3, null::double, "
       "null::integer, true), (date '2025-07-02', null, 4, 1.25, 2.5, 7, false)) "
       "t(day, store_id, quantity, decimal_value, maybe, maybe_int, flag) order by day")


def test_duckdb_rows_are_plain_values(tmp_path):
    import duckdb

    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    found = DuckDBWarehouse(str(path)).rows(SQL)
    assert found == [(date(2025, 7, 1), "S01", 3, 1.5, None, None, True),
                     (date(2025, 7, 2), None, 4, 1.25, 2.5, 7, False)]
    assert all(type(row[3]) is float for row in found)  # DECIMAL 0.5 * 3 as float


def test_athena_frames_read_as_the_same_plain_values():
    # awswrangler's frames: nullable integers (pd.NA), NaN doubles, numpy scalars.
    frame = pd.DataFrame({
        "store_id": pd.Series(["S01", None], dtype="string"),
        "quantity": pd.Series([3, 4], dtype="Int64"),
        "maybe": pd.Series([float("nan"), 2.5]),
        "maybe_int": pd.Series([pd.NA, 7], dtype="Int64"),
        "flag": pd.Series([True, False], dtype="boolean")})
    found = frame_rows(frame)
    assert found == [("S01", 3, None, None, True), (None, 4, 2.5, 7, False)]
    assert [type(v) for v in found[1][1:]] == [int, float, int, bool]
