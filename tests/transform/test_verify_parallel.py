"""``verify_lake`` hashes a full build's partitions two at a time (issue 13: a year at scale 16
is ~31 GB to hash before dbt reads it): the same partitions are checked as one by one, and a bad
partition still stops it with the FIRST bad day's name, whichever worker finished first."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest

from retailops.errors import CorruptPartitionError
from retailops.lake import partitions
from retailops.lake.partitions import commit_partition, verify_lake
from retailops.lake.storage import Lake
from tests.verify_spy import spy_on_hashing

FIRST = date(2024, 7, 1)
DAYS = [FIRST + timedelta(days=k) for k in range(8)]
COLUMNS = ("a", "b")


@pytest.fixture()
def lake(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    for day in DAYS:
        commit_partition(lake, "sales", day, f"a,b\n{day},x\n".encode(), 1, COLUMNS, "test")
    return lake


def _alter(lake: Lake, day: date) -> None:
    """Same size, other bytes: only the sha256 can catch it."""
    path = lake.url(f"raw/sales/dt={day}/sales.csv")
    data = open(path, "rb").read()
    with open(path, "wb") as out:
        out.write(data.replace(b",x", b",y"))


def test_every_day_is_hashed_on_two_threads(lake, monkeypatch):
    seen, threads = spy_on_hashing(monkeypatch, lambda table, day: day)
    verified = verify_lake(lake, ["sales"], {"sales": DAYS}, {"sales": COLUMNS})
    assert sorted(seen) == DAYS and set(verified["sales"]) == set(DAYS)
    assert len(threads) == partitions.HASH_WORKERS == 2


def test_the_first_bad_day_is_named_even_when_a_later_one_fails_first(lake, monkeypatch):
    _alter(lake, DAYS[2])
    _alter(lake, DAYS[5])
    real = partitions._check_bytes

    def check_bytes(lake_, table, day, manifest, columns):
        if day == DAYS[2]:
            time.sleep(0.3)  # the later bad day fails first on the other worker
        return real(lake_, table, day, manifest, columns)

    monkeypatch.setattr(partitions, "_check_bytes", check_bytes)
    with pytest.raises(CorruptPartitionError, match=f"dt={DAYS[2]}/sales.csv does not match"):
        verify_lake(lake, ["sales"], {"sales": DAYS}, {"sales": COLUMNS})


def test_a_clean_lake_passes_and_a_drifted_header_is_caught(lake):
    assert set(verify_lake(lake, ["sales"], {"sales": DAYS}, {"sales": COLUMNS})["sales"]) == set(DAYS)
    with pytest.raises(CorruptPartitionError, match=f"dt={DAYS[0]}/sales.csv has drifted columns"):
        verify_lake(lake, ["sales"], {"sales": DAYS}, {"sales": ("a", "c")})
