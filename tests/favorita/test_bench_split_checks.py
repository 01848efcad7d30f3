"""The key-uniqueness checks run in passes over big tables (the 125M-row benchmark) and stay exact."""

from __future__ import annotations

import numpy as np
import pandas as pd

from retailops.favorita import quality
from retailops.favorita.duck import DuckSettings, connect
from retailops.favorita.quality import build_checks, run_checks


def _train(path, ids, days, stores, items):
    frame = pd.DataFrame(
        {
            "id": pd.array(ids, dtype="Int64"),
            "date": pd.to_datetime(days).date,
            "store_nbr": np.asarray(stores, dtype=np.int16),
            "item_nbr": np.asarray(items, dtype=np.int32),
            "unit_sales": 1.0,
            "onpromotion": pd.array([None] * len(ids), dtype="boolean"),
        }
    )
    frame.to_parquet(path, index=False)
    return str(path)


def _results(tmp_path, staged, pass_rows, monkeypatch):
    monkeypatch.setattr(quality, "GROUP_PASS_ROWS", pass_rows)
    with connect(DuckSettings(temp_directory=str(tmp_path / "tmp"))) as con:
        return run_checks(con, staged, build_checks({})).set_index("check")


def test_passes_find_exactly_what_one_pass_finds(tmp_path, monkeypatch):
    n = 5_000
    ids = list(range(n))
    days = pd.date_range("2013-01-01", periods=n, freq="h").strftime("%Y-%m-%d").tolist()
    stores, items = [1] * n, list(range(n))
    # Broken on purpose: id 0 (first pass), the last id (last pass), two NULL ids, and one
    # (date, store, item) repeated on the first and on the last day.
    ids[1], ids[-1], ids[10], ids[11] = 0, n - 2, None, None
    items[2], items[-2] = items[1], items[-1]
    staged = {"train": _train(tmp_path / "train.parquet", ids, days, stores, items)}
    whole = _results(tmp_path, staged, 10**9, monkeypatch)
    split = _results(tmp_path, staged, 700, monkeypatch)  # 8 passes over id and date ranges
    for check, expected in (("train.primary_key_unique", 3), ("train.date_store_item_unique", 2)):
        assert whole.loc[check, "failing_rows"] == expected, check
        assert split.loc[check, "failing_rows"] == expected, check
        assert split.loc[check, "status"] == "failed" and split.loc[check, "sample"], check


def test_passes_pass_a_clean_table(tmp_path, monkeypatch):
    n = 3_000
    days = pd.date_range("2013-01-01", periods=n, freq="h").strftime("%Y-%m-%d").tolist()
    staged = {"train": _train(tmp_path / "train.parquet", list(range(n)), days, [1] * n, list(range(n)))}
    split = _results(tmp_path, staged, 500, monkeypatch)
    for check in ("train.primary_key_unique", "train.date_store_item_unique"):
        assert split.loc[check, "status"] == "passed" and split.loc[check, "failing_rows"] == 0, check
    with connect(DuckSettings(temp_directory=str(tmp_path / "tmp"))) as con:
        con.execute(f"CREATE VIEW train AS SELECT * FROM read_parquet('{staged['train']}')")
        check = next(c for c in build_checks({}) if c.name == "train.primary_key_unique")
        parts = quality._parts(con, check, n)
    # ceil(3000 / 500) = 6 id ranges covering 0..2999, and the NULL pass.
    assert len(parts) == 7 and parts[0] == '"id" >= 0 AND "id" < 500' and parts[-1] == '"id" IS NULL'


class _Recording:
    """A DuckDB connection that remembers the SQL it ran."""

    def __init__(self, con):
        self.con, self.sql = con, []

    def execute(self, sql, *args):
        self.sql.append(sql)
        return self.con.execute(sql, *args)


def test_the_header_is_read_in_file_order_on_an_unordered_connection(tmp_path):
    # Found on the 4.85 GB train.csv: with preserve_insertion_order = false, "LIMIT 1" of a
    # parallel scan returned a line from the middle of the file as the header.
    from retailops.favorita.loading import check_header
    from retailops.favorita.tables import TABLES

    path = tmp_path / "stores.csv"
    path.write_text("store_nbr,city,state,type,cluster\n1,Quito,Pichincha,D,13\n")
    settings = DuckSettings(temp_directory=str(tmp_path / "tmp"), preserve_insertion_order=False)
    with connect(settings) as con:
        recording = _Recording(con)
        check_header(recording, path, TABLES["stores"])
        setting = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    header_query = next(i for i, sql in enumerate(recording.sql) if "LIMIT 1" in sql)
    assert "SET preserve_insertion_order = true" in recording.sql[:header_query]
    assert setting is False  # put back afterwards
