"""The raw zone's promises: contract paths, manifests, determinism, re-runs, crash safety."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from retailops.lake import layout
from retailops.lake.partitions import read_manifest, read_partition
from retailops.lake.storage import Lake
from retailops.errors import CorruptPartitionError
from retailops.simulation import RAW_COLUMNS

from .helpers import day, ingest, tree_digest


@pytest.fixture(scope="module")
def week_lake(tmp_path_factory) -> Path:
    """A week landed in one range."""
    root = tmp_path_factory.mktemp("week") / "lake"
    ingest(Lake(str(root)), "2024-07-01", "2024-07-07")
    return root


def test_files_land_at_the_contracts_paths(week_lake):
    for table in ("products", "stores", "suppliers"):
        assert (week_lake / f"raw/{table}/{table}.csv").is_file()
    for table in ("sales", "inventory", "shipments"):
        for d in range(1, 8):
            dt = f"2024-07-0{d}"
            assert (week_lake / f"raw/{table}/dt={dt}/{table}.csv").is_file()
            manifest = json.loads(
                (week_lake / f"metadata/manifests/{table}/dt={dt}/manifest.json").read_text())
            data = (week_lake / f"raw/{table}/dt={dt}/{table}.csv").read_bytes()
            assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
            assert manifest["rows"] == data.count(b"\n") - 1
            assert manifest["table"] == table and manifest["dt"] == dt
            assert manifest["generator_version"] and manifest["written_at"]
    assert (week_lake / "metadata/defects/dt=2024-07-03/defects.csv").is_file()
    assert (week_lake / "metadata/truth/dt=2024-07-03/demand.parquet").is_file()


def test_csv_headers_follow_the_contract(week_lake):
    for table, columns in RAW_COLUMNS.items():
        path = next(week_lake.glob(f"raw/{table}/**/{table}.csv"))
        header = path.read_text().split("\n", 1)[0]
        assert [c.strip('"') for c in header.split(",")] == list(columns)


def test_day_by_day_equals_one_range_byte_for_byte(week_lake, tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    for d in range(1, 8):
        ingest(lake, f"2024-07-0{d}", f"2024-07-0{d}")
    assert tree_digest(tmp_path / "lake") == tree_digest(week_lake)


def test_resuming_without_a_checkpoint_replays_to_the_same_bytes(week_lake, tmp_path):
    """The daily run resumes from yesterday's state; with the state gone it replays history,
    and both paths land identical bytes."""
    root = tmp_path / "lake"
    shutil.copytree(week_lake, root)
    for table in ("sales", "inventory", "shipments"):
        shutil.rmtree(root / f"raw/{table}/dt=2024-07-07")
        shutil.rmtree(root / f"metadata/manifests/{table}/dt=2024-07-07")
    shutil.rmtree(root / "metadata/state")
    ingest(Lake(str(root)), "2024-07-07", "2024-07-07")
    assert tree_digest(root, include_metadata=False) == tree_digest(week_lake, include_metadata=False)
    # ...and the replay left a checkpoint for the next day to resume from.
    assert (root / "metadata/state/dt=2024-07-07/state.npz.zst").is_file()


def test_rerunning_a_complete_range_changes_nothing(week_lake, tmp_path):
    root = tmp_path / "lake"
    shutil.copytree(week_lake, root)
    facts = sorted(root.glob("raw/*/dt=*/*.csv")) + sorted(root.glob("metadata/manifests/**/*.json"))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in facts}
    reports = ingest(Lake(str(root)), "2024-07-01", "2024-07-07")
    assert reports == [], "complete days with checkpoints are not even simulated again"
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in facts} == before


def test_overwrite_relands_but_identical_bytes_stay_untouched(week_lake, tmp_path):
    root = tmp_path / "lake"
    shutil.copytree(week_lake, root)
    manifest = root / "metadata/manifests/sales/dt=2024-07-03/manifest.json"
    stamp = manifest.stat().st_mtime_ns
    reports = ingest(Lake(str(root)), "2024-07-03", "2024-07-03", overwrite=True)
    assert [r.outcomes for r in reports] == [{"sales": "skipped", "inventory": "skipped",
                                              "shipments": "skipped"}]
    assert manifest.stat().st_mtime_ns == stamp


def test_a_partition_without_manifest_is_rewritten(week_lake, tmp_path):
    root = tmp_path / "lake"
    shutil.copytree(week_lake, root)
    data = root / "raw/inventory/dt=2024-07-04/inventory.csv"
    original = data.read_bytes()
    data.write_bytes(original[: len(original) // 2])  # a half-written file from a crash
    (root / "metadata/manifests/inventory/dt=2024-07-04/manifest.json").unlink()
    reports = ingest(Lake(str(root)), "2024-07-01", "2024-07-07")
    outcomes = {r.day.isoformat(): r.outcomes for r in reports}
    assert outcomes["2024-07-04"]["inventory"] == "written"
    assert outcomes["2024-07-04"]["sales"] == "skipped"
    assert data.read_bytes() == original
    assert tree_digest(root, include_metadata=False) == tree_digest(week_lake, include_metadata=False)


class CrashAfter(Lake):
    """A lake whose process dies after a given number of object writes."""

    def __init__(self, root: str, writes_before_crash: int):
        super().__init__(root)
        self.remaining = writes_before_crash

    def write_bytes(self, relative, data, metadata=None):
        if self.remaining == 0:
            raise KeyboardInterrupt("simulated crash")
        self.remaining -= 1
        super().write_bytes(relative, data, metadata)


def _writes_for_two_days(tmp_path) -> int:
    counter = CrashAfter(str(tmp_path / "count"), 10**9)
    ingest(counter, "2024-07-01", "2024-07-02")
    return 10**9 - counter.remaining


def test_a_crash_at_any_write_never_leaves_a_partition_that_looks_complete(week_lake, tmp_path):
    total = _writes_for_two_days(tmp_path)
    expected = tree_digest(week_lake)
    for crash_at in range(total):
        root = tmp_path / f"crash{crash_at}"
        with pytest.raises(KeyboardInterrupt):
            ingest(CrashAfter(str(root), crash_at), "2024-07-01", "2024-07-02")
        lake = Lake(str(root))
        for table in ("sales", "inventory", "shipments"):
            for dt in ("2024-07-01", "2024-07-02"):
                if read_manifest(lake, table, day(dt)) is not None:
                    # complete means complete: the bytes are the ones the manifest names
                    read_partition(lake, table, day(dt), RAW_COLUMNS[table])
        ingest(lake, "2024-07-01", "2024-07-02")  # the next run finishes the job
        recovered = tree_digest(root)
        assert {k: v for k, v in recovered.items() if "dt=2024-07-0" in k and
                ("dt=2024-07-01" in k or "dt=2024-07-02" in k)} == {
            k: v for k, v in expected.items() if "dt=2024-07-01" in k or "dt=2024-07-02" in k}
        assert not list(root.rglob(".tmp-*")), "no temporary files are left behind"


def test_reading_a_tampered_partition_names_the_file(week_lake, tmp_path):
    root = tmp_path / "lake"
    shutil.copytree(week_lake, root)
    path = root / "raw/sales/dt=2024-07-02/sales.csv"
    path.write_bytes(path.read_bytes().replace(b"ST00", b"ST99", 1))
    with pytest.raises(CorruptPartitionError, match="sales/dt=2024-07-02/sales.csv"):
        read_partition(Lake(str(root)), "sales", day("2024-07-02"), RAW_COLUMNS["sales"])


def test_reading_a_drifted_header_names_the_columns(week_lake, tmp_path):
    root = tmp_path / "lake"
    shutil.copytree(week_lake, root)
    lake = Lake(str(root))
    path = root / "raw/inventory/dt=2024-07-02/inventory.csv"
    drifted = path.read_bytes().replace(b'"quantity_on_hand"', b'"qoh"', 1)
    (root / layout.manifest_file("inventory", day("2024-07-02"))).unlink()
    from retailops.lake.partitions import commit_partition

    commit_partition(lake, "inventory", day("2024-07-02"), drifted, 1, RAW_COLUMNS["inventory"],
                     "test")
    with pytest.raises(CorruptPartitionError, match="drifted columns.*qoh"):
        read_partition(lake, "inventory", day("2024-07-02"), RAW_COLUMNS["inventory"])
