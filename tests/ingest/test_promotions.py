"""The promotion plan in the raw zone: published Mondays, matching the sales, stopping at the
calendar's end, republished identically, idempotent, and readable as of a day (local and S3).

Expected values come from the landed CSV files read with the csv module, or from dates
written out here, never from the plan code under test.
"""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from retailops.errors import CorruptPartitionError
from retailops.lake.landing import land_promotions
from retailops.lake.promotions import read_plan
from retailops.lake.storage import Lake
from retailops.pipelines.ingest.nodes import publish_promotions, resolve_window
from retailops.simulation import SimulationConfig, build_world, last_supported_day
from retailops.simulation.promotions import plan_table

from .helpers import SMALL, ingest, tree_digest

SCALE = 0.01
SEED = 7
HEADER = ["published_date", "product_id", "start_date", "end_date", "discount_pct"]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def midweek_lake(tmp_path_factory) -> Path:
    """Wednesday 2024-07-03 .. Tuesday 2024-07-09 landed in one run."""
    root = tmp_path_factory.mktemp("promotions") / "lake"
    ingest(Lake(str(root)), "2024-07-03", "2024-07-09", scale=SCALE, seed=SEED)
    return root


def test_a_midweek_window_lands_the_monday_before_it(midweek_lake):
    published = sorted(p.name for p in (midweek_lake / "raw/promotions").iterdir())
    assert published == ["dt=2024-07-01", "dt=2024-07-08"]
    for dt in ("2024-07-01", "2024-07-08"):
        path = midweek_lake / f"raw/promotions/dt={dt}/promotions.csv"
        manifest = json.loads(
            (midweek_lake / f"metadata/manifests/promotions/dt={dt}/manifest.json").read_text())
        rows = _rows(path)
        assert manifest["table"] == "promotions" and manifest["dt"] == dt
        assert manifest["rows"] == len(rows) > 0
        assert list(rows[0]) == HEADER
        monday = date.fromisoformat(dt)
        weeks = {(monday + timedelta(days=7 * k)).isoformat() for k in range(5)}
        assert {r["start_date"] for r in rows} <= weeks
        assert all(r["published_date"] == dt for r in rows)
        for r in rows:
            start = date.fromisoformat(r["start_date"])
            assert start.weekday() == 0
            assert date.fromisoformat(r["end_date"]) == start + timedelta(days=6)
            assert 0 < float(r["discount_pct"]) < 1


def test_every_sale_line_carries_the_plan_published_for_its_day(midweek_lake):
    """The plan is the truth the sales follow: each sale's discount text equals the plan's
    for its product and week (0 when not promoted), except blanked (ledgered) discounts."""
    promoted_lines = blank_lines = 0
    for day_folder in sorted((midweek_lake / "raw/sales").iterdir()):
        dt = day_folder.name[3:]
        day = date.fromisoformat(dt)
        monday = (day - timedelta(days=day.weekday())).isoformat()
        plan = {r["product_id"]: r["discount_pct"]
                for r in _rows(midweek_lake / f"raw/promotions/dt={monday}/promotions.csv")
                if r["start_date"] <= dt <= r["end_date"]}
        blanked = {r["record_key"] for r in _rows(
            midweek_lake / f"metadata/defects/dt={dt}/defects.csv")
            if r["defect_type"] == "null_discount"}
        for sale in _rows(day_folder / "sales.csv"):
            if sale["discount_pct"] == "":
                assert sale["sale_id"] in blanked
                blank_lines += 1
                continue
            assert sale["discount_pct"] == plan.get(sale["product_id"], "0"), (dt, sale)
            promoted_lines += sale["product_id"] in plan
    assert promoted_lines > 0


def test_rerunning_changes_nothing_and_overwrite_repairs(midweek_lake, tmp_path):
    root = tmp_path / "lake"
    shutil.copytree(midweek_lake, root)
    files = sorted(root.glob("raw/promotions/*/*")) + sorted(
        root.glob("metadata/manifests/promotions/*/*"))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    ingest(Lake(str(root)), "2024-07-03", "2024-07-09", scale=SCALE, seed=SEED)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files} == before

    tampered = root / "raw/promotions/dt=2024-07-08/promotions.csv"
    tampered.write_bytes(tampered.read_bytes().replace(b"0.", b"0.9", 1))
    with pytest.raises(CorruptPartitionError, match="promotions/dt=2024-07-08"):
        read_plan(Lake(str(root)), date(2024, 7, 9))
    ingest(Lake(str(root)), "2024-07-08", "2024-07-08", scale=SCALE, seed=SEED, overwrite=True)
    assert tree_digest(root, include_metadata=False) == tree_digest(midweek_lake,
                                                                    include_metadata=False)


def _publish(lake: Lake, first: str, last: str, years_ahead: int = 1) -> None:
    window = resolve_window(first, last, None, years_ahead)
    land_promotions(lake, publish_promotions(window, SEED, SCALE, SMALL, False, years_ahead))


def test_a_week_is_published_five_times_identically(tmp_path):
    root = tmp_path / "lake"
    _publish(Lake(str(root)), "2024-07-01", "2024-08-04")  # Mondays 07-01 .. 07-29
    week = "2024-07-29"
    seen = {}
    for path in sorted(root.glob("raw/promotions/dt=*/promotions.csv")):
        rows = [(r["product_id"], r["start_date"], r["end_date"], r["discount_pct"])
                for r in _rows(path) if r["start_date"] == week]
        seen[path.parent.name] = rows
    assert sorted(seen) == [f"dt=2024-07-{d:02d}" for d in (1, 8, 15, 22, 29)]
    assert seen["dt=2024-07-01"], "the week has promotions at this seed"
    assert all(rows == seen["dt=2024-07-01"] for rows in seen.values())


def test_the_plan_stops_at_the_last_supported_day(tmp_path):
    world = build_world(SimulationConfig(seed=SEED, scale=SCALE))
    # Last supported day a Sunday: the week starting the next day is not planned.
    weeks = set(plan_table(world, date(2025, 12, 1), date(2025, 12, 28))
                .column("start_date").to_pylist())
    assert max(weeks) <= "2025-12-22" and "2025-12-29" not in weeks
    # The publication of the calendar's last Monday, as the ingest node lands it.
    end = last_supported_day(1)
    last_monday = end - timedelta(days=end.weekday())
    root = tmp_path / "lake"
    _publish(Lake(str(root)), last_monday.isoformat(), end.isoformat())
    rows = _rows(root / f"raw/promotions/dt={last_monday}/promotions.csv")
    assert {r["start_date"] for r in rows} <= {last_monday.isoformat()}


def _expected_plan(root: Path, as_of: date) -> pd.DataFrame:
    """For each week, the rows of the latest publication <= as_of that covers it, computed
    from the files with plain csv."""
    pubs = sorted(p.parent.name[3:] for p in root.glob("raw/promotions/dt=*/promotions.csv")
                  if (root / f"metadata/manifests/promotions/{p.parent.name}/manifest.json")
                  .exists() and p.parent.name[3:] <= as_of.isoformat())
    latest = {}
    for pub in pubs:
        for k in range(5):
            latest[(date.fromisoformat(pub) + timedelta(days=7 * k)).isoformat()] = pub
    rows = [r for pub in sorted(set(latest.values()))
            for r in _rows(root / f"raw/promotions/dt={pub}/promotions.csv")
            if latest[r["start_date"]] == pub]
    frame = pd.DataFrame({
        "product_id": [r["product_id"] for r in rows],
        "start_date": pd.to_datetime([r["start_date"] for r in rows]),
        "end_date": pd.to_datetime([r["end_date"] for r in rows]),
        "discount_pct": [float(r["discount_pct"]) for r in rows]})
    return frame.sort_values(["start_date", "product_id"], ignore_index=True)


def test_read_plan_is_the_latest_publication_known_on_the_day(tmp_path):
    root = tmp_path / "lake"
    lake = Lake(str(root))
    _publish(lake, "2024-07-01", "2024-07-21")  # Mondays 07-01, 07-08, 07-15
    # A later publication that differs (as a revised plan would) must win for its weeks only
    # from its own date on.
    revised = root / "raw/promotions/dt=2024-07-15/promotions.csv"
    (root / "metadata/manifests/promotions/dt=2024-07-15/manifest.json").unlink()
    text = revised.read_text().splitlines()
    kept = [text[0]] + [line for line in text[1:] if '"2024-07-22"' not in line]
    from retailops.lake.partitions import commit_partition
    from retailops.simulation import RAW_COLUMNS
    commit_partition(lake, "promotions", date(2024, 7, 15), ("\n".join(kept) + "\n").encode(),
                     len(kept) - 1, RAW_COLUMNS["promotions"], "test")
    # An incomplete publication (no manifest) is never read.
    _publish(lake, "2024-07-22", "2024-07-22")
    (root / "metadata/manifests/promotions/dt=2024-07-22/manifest.json").unlink()

    for as_of in (date(2024, 6, 30), date(2024, 7, 1), date(2024, 7, 14), date(2024, 7, 16),
                  date(2024, 7, 30)):
        plan = read_plan(lake, as_of)
        assert list(plan.columns) == ["product_id", "start_date", "end_date", "discount_pct"]
        assert str(plan["start_date"].dtype) == "datetime64[ns]"
        assert plan["discount_pct"].dtype == float
        pd.testing.assert_frame_equal(plan, _expected_plan(root, as_of), check_dtype=False)
    week = pd.Timestamp("2024-07-22")
    assert (read_plan(lake, date(2024, 7, 14))["start_date"] == week).any()
    assert not (read_plan(lake, date(2024, 7, 16))["start_date"] == week).any()
    assert read_plan(lake, date(2024, 6, 30)).empty


def test_read_plan_and_the_catalog_entry_on_s3(tmp_path, aws_env):
    import boto3

    from retailops.lake.datasets import CompletePartitionsDataset, RawPromotionsDataset

    boto3.client("s3").create_bucket(Bucket="retailops-promotions")
    lake = Lake("s3://retailops-promotions")
    window = resolve_window("2024-07-10", "2024-07-16", None)
    RawPromotionsDataset(path="s3://retailops-promotions").save(
        publish_promotions(window, SEED, SCALE, SMALL, False))
    local = tmp_path / "lake"
    _publish(Lake(str(local)), "2024-07-10", "2024-07-16")

    assert [d.isoformat() for d in RawPromotionsDataset(path="s3://retailops-promotions")
            .load()] == ["2024-07-08", "2024-07-15"]
    plan = read_plan(lake, date(2024, 7, 15))
    assert len(plan) > 0
    pd.testing.assert_frame_equal(plan, _expected_plan(local, date(2024, 7, 15)),
                                  check_dtype=False)
    partitions = CompletePartitionsDataset(path="s3://retailops-promotions/raw/promotions").load()
    assert sorted(partitions) == ["dt=2024-07-08", "dt=2024-07-15"]
    frame = partitions["dt=2024-07-15"]()
    assert list(frame.columns) == HEADER
    assert len(frame) == len(_rows(local / "raw/promotions/dt=2024-07-15/promotions.csv"))
