"""A daily publish touches only what changed: the months whose curated files a run replaced are
linked again, every other month of history is shared with the previous snapshot as it is
(one symbolic link each), and the readers still see exactly the warehouse's rows.

A warehouse shaped like dbt's output (facts exported as one Parquet file per day, whole-table
dimensions) over 75 days, three months; a "daily run" is imitated as dbt's export does it: the
rebuilt day's folder removed and written again, the new day added."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest

from retailops.warehouse import serving
from retailops.warehouse.serving import PublishError, publish_serving, serving_dir

DAYS, ROWS_PER_DAY = 75, 40  # 2024-07-01 .. 2024-09-13
FACTS = {"fct_daily_sales": "sale_date", "fct_inventory_snapshots": "snapshot_date"}


def _export(con, lake: Path, fact: str, column: str, where: str = "true") -> None:
    con.execute(f"copy (select * from marts.{fact} where {where}) to "
                f"'{lake}/curated/{fact}' (format parquet, partition_by ({column}), "
                "overwrite_or_ignore, filename_pattern 'data_{i}')")


@pytest.fixture
def built(tmp_path):
    lake, warehouse = tmp_path / "lake", tmp_path / "warehouse" / "retailops.duckdb"
    warehouse.parent.mkdir()
    (lake / "curated").mkdir(parents=True)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts; create schema staging")
        for fact, column in FACTS.items():
            con.execute(f"create table marts.{fact} as select "
                        f"cast(date '2024-07-01' + cast(i // {ROWS_PER_DAY} as integer) as date) "
                        f"as {column}, i % 7 as store_id, i as quantity "
                        f"from range({DAYS * ROWS_PER_DAY}) t(i)")
            _export(con, lake, fact, column)
        con.execute("create table marts.dim_stores as select i as store_id from range(7) t(i)")
        (lake / "curated" / "dim_stores").mkdir()
        con.execute(f"copy marts.dim_stores to '{lake}/curated/dim_stores/dim_stores.parquet' "
                    "(format parquet)")
        con.execute("create table staging.stg_defects as select 1 as record_key")
    return lake, warehouse, warehouse.with_name("serving.duckdb")


def _daily_run(lake: Path, warehouse: Path, rebuilt: str, new: str) -> None:
    """What a daily run's dbt does to fct_daily_sales: one day rebuilt (its folder removed and
    written again, one row more), one new day."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"insert into marts.fct_daily_sales values (date '{rebuilt}', 1, -1), "
                    f"(date '{new}', 2, -2), (date '{new}', 3, -3)")
        shutil.rmtree(lake / "curated" / "fct_daily_sales" / f"sale_date={rebuilt}")
        _export(con, lake, "fct_daily_sales", "sale_date",
                f"sale_date in (date '{rebuilt}', date '{new}')")


class _Counted:
    """Counts the hard links, copies and symbolic links a publish makes."""

    def __init__(self, monkeypatch):
        self.links, self.symlinks = [], []
        real_link, real_symlink = os.link, os.symlink

        def link(source, target, *args, **kwargs):
            self.links.append(Path(target))
            return real_link(source, target, *args, **kwargs)

        def symlink(source, target, *args, **kwargs):
            self.symlinks.append(Path(target))
            return real_symlink(source, target, *args, **kwargs)

        monkeypatch.setattr(serving.os, "link", link)
        monkeypatch.setattr(serving.os, "symlink", symlink)


def _months(path: Path, snapshot: str, fact: str) -> dict[str, str]:
    folder = serving_dir(path) / "snapshots" / snapshot / fact
    return {p.name: os.readlink(p) for p in folder.iterdir()}


def _served(path: Path, sql: str):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_a_daily_publish_links_only_the_changed_month(built, monkeypatch):
    lake, warehouse, path = built
    first = publish_serving(warehouse, path, lake)
    assert first.files_linked == 2 * DAYS + 1  # every day of both facts, and the dimension

    _daily_run(lake, warehouse, rebuilt="2024-09-10", new="2024-09-14")
    counted = _Counted(monkeypatch)
    second = publish_serving(warehouse, path, lake)

    # Linked: September's 14 days of fct_daily_sales (a new month folder) and the dimension;
    # nothing of July, August or fct_inventory_snapshots.
    september = serving_dir(path) / "partitions" / "fct_daily_sales" / "2024-09"
    assert sorted(counted.links) == sorted(
        [*(september / second.snapshot).glob("sale_date=*/data_0.parquet"),
         serving_dir(path) / "snapshots" / second.snapshot / "dim_stores" / "dim_stores.parquet"])
    assert len(counted.links) == 14 + 1 == second.files_linked
    # One month link per fact and month, whatever the history's length.
    assert len(counted.symlinks) == 3 + 3 + 1  # + the `current` link
    before, after = (_months(path, first.snapshot, "fct_daily_sales"),
                     _months(path, second.snapshot, "fct_daily_sales"))
    assert {m: after[m] == before[m] for m in after} == {
        "2024-07": True, "2024-08": True, "2024-09": False}
    assert (_months(path, second.snapshot, "fct_inventory_snapshots")
            == _months(path, first.snapshot, "fct_inventory_snapshots"))

    # Readers see exactly the warehouse: the rebuilt day's extra row and the new day.
    with duckdb.connect(str(warehouse), read_only=True) as con:
        expected = con.execute("select sale_date, count(*), sum(quantity) from "
                               "marts.fct_daily_sales group by 1 order by 1").fetchall()
    assert _served(path, "select sale_date, count(*), sum(quantity) from marts.fct_daily_sales "
                         "group by 1 order by 1") == expected
    assert second.rows["fct_daily_sales"] == DAYS * ROWS_PER_DAY + 3


def test_an_unchanged_publish_links_only_the_whole_tables(built, monkeypatch):
    lake, warehouse, path = built
    publish_serving(warehouse, path, lake)
    counted = _Counted(monkeypatch)
    again = publish_serving(warehouse, path, lake)
    assert [p.name for p in counted.links] == ["dim_stores.parquet"]
    assert again.rows["fct_daily_sales"] == DAYS * ROWS_PER_DAY


def test_month_folders_no_snapshot_refers_to_are_pruned(built):
    lake, warehouse, path = built
    publish_serving(warehouse, path, lake, keep_snapshots=2)
    store = serving_dir(path) / "partitions" / "fct_daily_sales"
    for rebuilt, new in (("2024-09-01", "2024-09-14"), ("2024-09-02", "2024-09-15")):
        _daily_run(lake, warehouse, rebuilt, new)
        last = publish_serving(warehouse, path, lake, keep_snapshots=2)
    snapshots = sorted(p.name for p in (serving_dir(path) / "snapshots").iterdir())
    assert len(snapshots) == 2 and snapshots[-1] == last.snapshot
    # September: one version per kept snapshot; the first publish's is gone with its snapshot.
    assert sorted(p.name for p in (store / "2024-09").iterdir()) == snapshots
    assert len(list((store / "2024-07").iterdir())) == 1  # made once, shared by all


def test_a_month_that_lost_a_day_is_counted_again_and_refused(built):
    """An unchanged month keeps its recorded count; a changed one is counted again, so a
    curated copy out of step with the warehouse is still refused, the publication kept."""
    lake, warehouse, path = built
    first = publish_serving(warehouse, path, lake)
    (lake / "curated" / "fct_daily_sales" / "sale_date=2024-08-05" / "data_0.parquet").unlink()
    with pytest.raises(PublishError, match=r"marts\.fct_daily_sales: the curated Parquet .* "
                                           rf"holds {(DAYS - 1) * ROWS_PER_DAY} rows, the "
                                           rf"warehouse {DAYS * ROWS_PER_DAY}"):
        publish_serving(warehouse, path, lake)
    assert os.readlink(serving_dir(path) / "current") == f"snapshots/{first.snapshot}"
    # The refused publish left no month folder behind.
    store = serving_dir(path) / "partitions" / "fct_daily_sales"
    assert [p.name for p in (store / "2024-08").iterdir()] == [first.snapshot]
