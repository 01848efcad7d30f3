"""``verify_lake`` hashes a daily run's day across its tables at once (issue 13: at scale 16 the
day's sales file is ~60 MB, the other tables' a few MB, checked one after the other before), and
still names the first bad file in the order a one-by-one check meets them: tables in the order
given, in each table every size before any content, days in order."""

from __future__ import annotations

import time
from datetime import date

import pytest

from retailops.errors import CorruptPartitionError
from retailops.lake import partitions
from retailops.lake.partitions import commit_partition, verify_lake
from retailops.lake.storage import Lake
from tests.verify_spy import spy_on_hashing

DAY = date(2024, 7, 1)
TABLES = ("sales", "inventory", "shipments")
COLUMNS = ("a", "b")


@pytest.fixture()
def lake(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    for table in TABLES:
        commit_partition(lake, table, DAY, f"a,b\n{DAY},{table}\n".encode(), 1, COLUMNS, "test")
    return lake


def _path(lake: Lake, table: str) -> str:
    return lake.url(f"raw/{table}/dt={DAY}/{table}.csv")


def _alter(lake: Lake, table: str) -> None:
    """Same size, other bytes: only the sha256 can catch it."""
    data = open(_path(lake, table), "rb").read()
    with open(_path(lake, table), "wb") as out:
        out.write(data[:-2] + b"X\n")


def _truncate(lake: Lake, table: str) -> None:
    data = open(_path(lake, table), "rb").read()
    with open(_path(lake, table), "wb") as out:
        out.write(data[:-3])


def _verify(lake: Lake, tables=TABLES, columns=COLUMNS):
    return verify_lake(lake, list(tables), {t: [DAY] for t in tables}, {t: columns for t in tables})


def test_the_days_tables_are_hashed_on_two_threads(lake, monkeypatch):
    seen, threads = spy_on_hashing(monkeypatch, lambda table, day: table)
    verified = _verify(lake)
    assert sorted(seen) == sorted(TABLES) and all(DAY in verified[t] for t in TABLES)
    assert len(threads) == 2


def test_an_earlier_tables_bad_content_is_named_before_a_later_tables_bad_size(lake, monkeypatch):
    _alter(lake, "sales")
    _truncate(lake, "shipments")
    real = partitions._check_bytes

    def slow_check_bytes(lake_, table, day, manifest, columns):
        time.sleep(0.2)  # the later table's size is known long before this hash is
        return real(lake_, table, day, manifest, columns)

    monkeypatch.setattr(partitions, "_check_bytes", slow_check_bytes)
    with pytest.raises(CorruptPartitionError, match=f"sales/dt={DAY}/sales.csv does not match"):
        _verify(lake)
    # In the other order of tables, the truncated file comes first.
    with pytest.raises(CorruptPartitionError, match=f"shipments/dt={DAY}/shipments.csv has .* bytes"):
        _verify(lake, ("shipments", "inventory", "sales"))


def test_a_later_tables_bad_content_is_named_when_it_fails_first(lake, monkeypatch):
    _alter(lake, "inventory")
    _alter(lake, "shipments")
    real = partitions._check_bytes

    def check_bytes(lake_, table, day, manifest, columns):
        if table == "inventory":
            time.sleep(0.3)  # shipments fails first on the other worker
        return real(lake_, table, day, manifest, columns)

    monkeypatch.setattr(partitions, "_check_bytes", check_bytes)
    with pytest.raises(CorruptPartitionError, match=f"inventory/dt={DAY}/inventory.csv does not"):
        _verify(lake)


def test_a_clean_day_passes_and_a_drifted_header_is_named(lake):
    assert all(DAY in found for found in _verify(lake).values())
    with pytest.raises(CorruptPartitionError, match=f"sales/dt={DAY}/sales.csv has drifted columns"):
        _verify(lake, columns=("a", "c"))


def test_a_file_without_a_line_break_is_all_header(tmp_path):
    # The header is the first line: with no line break at all, the whole file (as before).
    lake = Lake(str(tmp_path / "lake"))
    commit_partition(lake, "sales", DAY, b"a,b", 0, COLUMNS, "test")
    assert DAY in verify_lake(lake, ["sales"], {"sales": [DAY]}, {"sales": COLUMNS})["sales"]
    commit_partition(lake, "sales", date(2024, 7, 2), b"a,c", 0, COLUMNS, "test")
    with pytest.raises(CorruptPartitionError, match="has drifted columns: expected a,b, found a,c"):
        verify_lake(lake, ["sales"], {"sales": [date(2024, 7, 2)]}, {"sales": COLUMNS})


def test_hashing_many_partitions_holds_only_the_ones_being_hashed(tmp_path):
    """A full build hashes every partition of the lake (a year at scale 16: ~27 GB of CSV).
    Each is read, hashed and dropped: the peak of Python's allocations stays near the
    partitions the two workers hold at once, not the sum of every partition checked (the bytes
    once stayed alive in the workers' futures until the end, and the year's build was killed
    for memory at 24 GB)."""
    import tracemalloc
    from datetime import timedelta

    lake = Lake(str(tmp_path / "lake"))
    row = b"2024-07-01,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
    body = b"a,b\n" + row * (2_000_000 // len(row))  # ~2 MB a partition
    days = [DAY + timedelta(days=i) for i in range(24)]
    for day in days:
        commit_partition(lake, "sales", day, body, 1, COLUMNS, "test")
    tracemalloc.start()
    try:
        verified = verify_lake(lake, ["sales"], {"sales": days}, {"sales": COLUMNS})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sorted(verified["sales"]) == days
    # Two workers, each holding one partition (and a read buffer's copy at most): ~4 of 24.
    assert peak < 6 * len(body), f"peak {peak:,} bytes for {len(days)} partitions of {len(body):,}"
