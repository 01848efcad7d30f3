"""History does not slow the day, counted: what a new day's planning and verification read and
list after 900 days of history is what they read and list after 30.

A lake of tiny committed partitions (the commit protocol's files and manifests, three fact
tables) at 30 and at 900 days; then a new day lands and the transform's two lake steps run as a
daily run runs them: the manifest index (``plan_rebuild`` and the ``raw_days`` load) and
``verify_lake`` with the rebuilt days hashed. Counted: files read, folders listed or walked.
What still grows, by design, is one ``stat`` per manifest and per data file (a same-size-or-not
check of every partition of history is the documented guard against a truncated old file)."""

from __future__ import annotations

import os
from collections import Counter
from datetime import date, timedelta

import pytest

from retailops.lake import manifest_index, partitions
from retailops.lake.partitions import commit_partition, verify_lake
from retailops.lake.storage import Lake

FIRST = date(2024, 7, 1)
TABLES = ("sales", "inventory", "shipments")
COLUMNS = ("a", "b")


def _land(lake: Lake, day: date) -> None:
    for table in TABLES:
        data = f"a,b\n{day},{table}\n".encode()
        commit_partition(lake, table, day, data, 1, COLUMNS, "test")


@pytest.fixture(scope="module")
def lakes(tmp_path_factory):
    """A lake per history length, indexed once (as the previous day's run left it)."""
    made = {}
    for days in (30, 900):
        lake = Lake(str(tmp_path_factory.mktemp(f"history{days}") / "lake"))
        for k in range(days):
            _land(lake, FIRST + timedelta(days=k))
        # Landed long ago (as history is): the index's guard re-reads manifests written within
        # two seconds of indexing.
        for folder, _, files in os.walk(lake.root):
            for name in files:
                os.utime(os.path.join(folder, name), (1.7e9, 1.7e9))
        for table in TABLES:
            manifest_index.complete_manifests(lake, table)
        made[days] = lake
    return made


class _Counts:
    """Files read through the lake, folders listed (``os.scandir``, ``os.listdir``, fsspec
    walks) and ``stat`` calls, while a step runs."""

    def __init__(self, monkeypatch):
        self.counted = Counter()
        real = {"read_bytes": Lake.read_bytes, "read_many": Lake.read_many,
                "find": Lake.find, "sizes": Lake.sizes, "digest": Lake.digest}
        real_scandir, real_listdir, real_stat = os.scandir, os.listdir, os.stat

        def read_bytes(lake, relative):
            self.counted["files read"] += 1
            return real["read_bytes"](lake, relative)

        def digest(lake, relative):
            self.counted["files read"] += 1
            return real["digest"](lake, relative)

        def read_many(lake, relatives):
            self.counted["files read"] += len(relatives)
            return real["read_many"](lake, relatives)

        def walked(name):
            def walk(lake, folder):
                self.counted["folders walked"] += 1
                return real[name](lake, folder)
            return walk

        def scandir(path="."):
            self.counted["folders listed"] += 1
            return real_scandir(path)

        def listdir(path="."):
            self.counted["folders listed"] += 1
            return real_listdir(path)

        def stat(path, *args, **kwargs):
            self.counted["stats"] += 1
            return real_stat(path, *args, **kwargs)

        monkeypatch.setattr(Lake, "read_bytes", read_bytes)
        monkeypatch.setattr(Lake, "read_many", read_many)
        monkeypatch.setattr(Lake, "digest", digest)
        monkeypatch.setattr(Lake, "find", walked("find"))
        monkeypatch.setattr(Lake, "sizes", walked("sizes"))
        for module in (manifest_index, partitions):
            monkeypatch.setattr(module.os, "scandir", scandir)
            monkeypatch.setattr(module.os, "listdir", listdir)
            monkeypatch.setattr(module.os, "stat", stat)


def _new_day(lake: Lake, days: int, monkeypatch) -> Counter:
    """Land the next day, then plan and verify as the daily run does; what that read."""
    new_day = FIRST + timedelta(days=days)
    _land(lake, new_day)
    manifest_index._KNOWN.clear()  # a new process
    counts = _Counts(monkeypatch)
    manifests = {t: manifest_index.complete_manifests(lake, t) for t in TABLES}
    verify_lake(lake, TABLES, {t: [new_day] for t in TABLES}, {t: COLUMNS for t in TABLES},
                manifests=manifests)
    monkeypatch.undo()
    assert all(new_day in manifests[t] and len(manifests[t]) == days + 1 for t in TABLES)
    return counts.counted


def test_a_new_day_reads_and_lists_as_much_after_900_days_as_after_30(lakes, monkeypatch):
    short, long = (_new_day(lakes[n], n, monkeypatch) for n in (30, 900))
    # Read: each table's index, its new manifest and the new day's data file (sha256).
    assert short["files read"] == long["files read"] == 3 * 3
    # Listed: each table's manifest folder once, and the index's folder once per table when
    # the new index is written (the lake's sweep of stale temporaries); no raw folder walked.
    assert short["folders listed"] == long["folders listed"] == 3 + 3
    assert short["folders walked"] == long["folders walked"] == 0
    # What grows: one stat per manifest and per data file of history, nothing else.
    assert long["stats"] - short["stats"] == 3 * 2 * (900 - 30)


def test_a_truncated_old_partition_is_still_caught_without_a_walk(lakes, monkeypatch, tmp_path):
    lake = lakes[30]
    old = lake.url("raw/inventory/dt=2024-07-02/inventory.csv")
    kept = open(old, "rb").read()
    try:
        with open(old, "wb") as cut:
            cut.write(kept[:-3])
        manifests = {t: manifest_index.complete_manifests(lake, t) for t in TABLES}
        with pytest.raises(partitions.CorruptPartitionError,
                           match="dt=2024-07-02/inventory.csv has .* bytes but its manifest"):
            verify_lake(lake, TABLES, {}, {t: COLUMNS for t in TABLES}, manifests=manifests)
    finally:
        with open(old, "wb") as restored:
            restored.write(kept)
