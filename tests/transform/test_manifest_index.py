"""The manifest index: a daily run learns the raw zone's complete partitions from one listing and
the manifests that changed, and still sees every repair, re-landing and removal anywhere in
history exactly as reading every manifest would (``partitions.read_manifests``)."""

from __future__ import annotations

import os
from datetime import date, timedelta

import pytest

from retailops.lake import layout, manifest_index
from retailops.lake.manifest_index import complete_manifests, index_file
from retailops.lake.partitions import commit_partition, read_manifests
from retailops.lake.storage import Lake

TABLE, COLUMNS = "sales", ("sale_id", "quantity")
FIRST = date(2024, 7, 1)


def _land(lake: Lake, day: date, rows: int, overwrite: bool = False) -> None:
    data = "sale_id,quantity\n" + "".join(f"{day:%d}{i},{i}\n" for i in range(rows))
    commit_partition(lake, TABLE, day, data.encode(), rows, COLUMNS, "test",
                     overwrite=overwrite)


def _age(lake: Lake, seconds: int = 60) -> None:
    """Every manifest written ``seconds`` ago (a lake landed on earlier days)."""
    for day in read_manifests(lake, TABLE):
        path = lake.url(layout.manifest_file(TABLE, day))
        moved = os.stat(path).st_mtime_ns - seconds * 1_000_000_000
        os.utime(path, ns=(moved, moved))


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake(str(tmp_path / "lake"))
    for offset in range(40):
        _land(lake, FIRST + timedelta(days=offset), rows=3)
    _age(lake)
    return lake


def _as_a_new_process(lake: Lake) -> dict[date, object]:
    """``complete_manifests`` as the next run's process calls it: from the index file alone."""
    manifest_index._KNOWN.clear()
    return complete_manifests(lake, TABLE)


@pytest.fixture
def reads(monkeypatch) -> list[date]:
    """The manifests the index reads (every day it asks ``read_manifests`` for)."""
    asked: list[date] = []
    real = manifest_index.read_manifests

    def counted(lake, table, days=None):
        asked.extend(days)
        return real(lake, table, days)

    monkeypatch.setattr(manifest_index, "read_manifests", counted)
    return asked


def test_the_index_answers_as_reading_every_manifest_and_reads_only_what_changed(lake, reads):
    assert _as_a_new_process(lake) == read_manifests(lake, TABLE)
    assert len(reads) == 40  # no index yet: every manifest read once
    reads.clear()
    assert _as_a_new_process(lake) == read_manifests(lake, TABLE)
    assert reads == []  # nothing changed: nothing read

    new, relanded, removed = FIRST + timedelta(days=40), FIRST + timedelta(days=3), FIRST
    _land(lake, new, rows=3)
    _land(lake, relanded, rows=2, overwrite=True)  # other bytes, a new manifest
    lake.remove(layout.manifest_file(TABLE, removed))
    # A manifest damaged in place (its size changes) leaves its partition incomplete.
    damaged = lake.url(layout.manifest_file(TABLE, FIRST + timedelta(days=20)))
    with open(damaged, "ab") as handle:
        handle.write(b"}")
    got = _as_a_new_process(lake)
    assert got == read_manifests(lake, TABLE)
    assert sorted(reads) == [relanded, FIRST + timedelta(days=20), new]
    assert got[relanded].rows == 2 and removed not in got and new in got
    assert FIRST + timedelta(days=20) not in got


def test_a_manifest_rewritten_within_the_timestamp_granularity_is_read_again(lake, reads):
    """Same size and the same modification time (what a rewrite within one tick of the file
    system's clock can leave): the index does not trust a manifest written that recently."""
    day = FIRST + timedelta(days=40)
    _land(lake, day, rows=3)  # just now
    path = lake.url(layout.manifest_file(TABLE, day))
    first = _as_a_new_process(lake)[day]
    indexed = os.stat(path)
    # Re-landed at once with other bytes of the same size, within the same clock tick.
    lake.remove(layout.manifest_file(TABLE, day))
    data = "sale_id,quantity\n" + "".join(f"99{i},{i}\n" for i in range(3))
    commit_partition(lake, TABLE, day, data.encode(), 3, COLUMNS, "test")
    os.utime(path, ns=(indexed.st_mtime_ns, indexed.st_mtime_ns))
    assert os.stat(path).st_size == indexed.st_size
    reads.clear()
    got = _as_a_new_process(lake)
    assert reads == [day] and got[day].sha256 != first.sha256
    assert got == read_manifests(lake, TABLE)


def test_a_damaged_or_unwritable_index_only_costs_reads(lake, reads, monkeypatch):
    _as_a_new_process(lake)
    lake.write_bytes(index_file(TABLE), b"{not json")
    reads.clear()
    assert _as_a_new_process(lake) == read_manifests(lake, TABLE)
    assert len(reads) == 40

    def refused(*args, **kwargs):
        from retailops.errors import LakeUnavailableError
        raise LakeUnavailableError("cannot write (read-only credentials)")

    monkeypatch.setattr(lake, "write_bytes", refused)
    lake.remove(index_file(TABLE))
    assert _as_a_new_process(lake) == read_manifests(lake, TABLE)


def test_a_copied_lake_keeps_its_index(lake, tmp_path, reads):
    """A copy that keeps modification times (cp -a, copy2) reuses the index."""
    import shutil

    _as_a_new_process(lake)
    copy = Lake(str(tmp_path / "copy"))
    shutil.copytree(lake.root, copy.root)
    reads.clear()
    assert complete_manifests(copy, TABLE) == read_manifests(lake, TABLE)
    assert reads == []


def test_the_same_process_asks_again_without_reading_the_index(lake, reads, monkeypatch):
    """A daily run asks twice (the raw_days load, then the plan): the second time is the
    listing alone, and still sees a manifest re-landed in between."""
    _as_a_new_process(lake)
    loaded = []
    monkeypatch.setattr(manifest_index, "_load", lambda *args: loaded.append(args) or ({}, 0))
    reads.clear()
    assert complete_manifests(lake, TABLE) == read_manifests(lake, TABLE)
    assert loaded == [] and reads == []
    _land(lake, FIRST + timedelta(days=5), rows=2, overwrite=True)
    assert complete_manifests(lake, TABLE) == read_manifests(lake, TABLE)
    assert loaded == [] and reads == [FIRST + timedelta(days=5)]


def test_on_s3_the_stamp_is_the_etag(aws_env, reads):
    import boto3

    boto3.client("s3").create_bucket(Bucket="retailops-manifest-index")
    lake = Lake("s3://retailops-manifest-index")
    for offset in range(3):
        _land(lake, FIRST + timedelta(days=offset), rows=3)
    assert _as_a_new_process(lake) == read_manifests(lake, TABLE)
    reads.clear()
    assert _as_a_new_process(lake) == read_manifests(lake, TABLE)
    assert reads == []
    _land(lake, FIRST + timedelta(days=1), rows=2, overwrite=True)
    lake.remove(layout.manifest_file(TABLE, FIRST))
    got = _as_a_new_process(lake)
    assert got == read_manifests(lake, TABLE) and sorted(got) == [FIRST + timedelta(days=1),
                                                                 FIRST + timedelta(days=2)]
    assert reads == [FIRST + timedelta(days=1)] and got[FIRST + timedelta(days=1)].rows == 2
