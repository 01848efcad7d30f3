"""A Kedro run writes a day's ground truth and checkpoint after the day's facts are committed, on
a background thread, while the transform runs (issue 13: ~0.2 s of CPU at scale 16 off the
daily run's way to dbt). What must hold: the same bytes as landing them first; the run report
(and every stage reading it) waits for them and fails when they failed; and a run killed in
between leaves the day marked unfinished, so the next landing writes them, the same bytes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kedro.io import DatasetError

from retailops.errors import LakeUnavailableError
from retailops.lake import landing
from retailops.lake.datasets import RawDaysDataset, RunReportDataset
from retailops.lake.landing import land_dimensions, land_promotions
from retailops.lake.storage import Lake
from retailops.pipelines.ingest import nodes
from tests.ingest.helpers import ingest, tree_digest

SCALE, SEED, SIM = 0.05, 7, {"review_period_days": 10}


def _ingest_through_the_dataset(root: Path, first: str, last: str) -> None:
    """As ``helpers.ingest``, but each day saved through the catalog's dataset (finish later)."""
    lake = Lake(str(root))
    window = nodes.resolve_window(first, last, None)
    recorded = nodes.check_lake_configuration(lake, window, SEED, SCALE, SIM)
    land_dimensions(lake, nodes.build_dimensions(window, SEED, SCALE, SIM, recorded))
    land_promotions(lake, nodes.publish_promotions(window, SEED, SCALE, SIM, False, 1, recorded))
    days = RawDaysDataset(path=str(root))
    for day in nodes.simulate_window(lake, window, SEED, SCALE, SIM, False, recorded):
        days.save(day)


def _lake_files(root: Path) -> dict[str, str]:
    return {k: v for k, v in tree_digest(root).items()
            if not k.startswith(("metadata/lake.json", "metadata/manifest_index",
                                 "metadata/world/"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, str]:
    """Days 1-3 landed with the truth and checkpoint written first (``land_day``'s default)."""
    root = tmp_path_factory.mktemp("reference") / "lake"
    ingest(Lake(str(root)), "2024-07-01", "2024-07-03", scale=SCALE, seed=SEED)
    files = _lake_files(root)
    assert sum(k.startswith("metadata/truth/") for k in files) == 3
    assert sum(k.startswith("metadata/state/") for k in files) == 3
    return files


@pytest.fixture(autouse=True)
def _nothing_left_behind():
    yield
    landing._FINISHING.clear()  # a failed test's thread is not the next test's business


def test_finishing_later_writes_the_same_bytes_and_leaves_no_mark(tmp_path, reference):
    _ingest_through_the_dataset(tmp_path / "lake", "2024-07-01", "2024-07-03")
    landing.finish_landing()
    assert _lake_files(tmp_path / "lake") == reference
    assert landing.unfinished_days(Lake(str(tmp_path / "lake"))) == []


def test_the_run_report_waits_for_the_truth_and_checkpoint(tmp_path, monkeypatch):
    real = landing._truth_parquet
    threads = []

    def slow_truth(truth):
        threads.append(landing.threading.current_thread().name)
        time.sleep(0.5)
        return real(truth)

    monkeypatch.setattr(landing, "_truth_parquet", slow_truth)
    _ingest_through_the_dataset(tmp_path / "lake", "2024-07-01", "2024-07-01")
    truth = tmp_path / "lake" / "metadata/truth/dt=2024-07-01/demand.parquet"
    assert not truth.exists(), "the truth was written before the day's facts were committed"
    landing.start_finishing()  # as the transform does once the day is verified
    RunReportDataset(path=str(tmp_path / "lake"), kind="validation").save({"generated_at": "x"})
    assert truth.exists() and landing._FINISHING == []
    assert threads == ["finish-2024-07-01"], "not written on the background thread"


def test_left_unstarted_they_are_written_by_whoever_waits(tmp_path, reference):
    # An ingest alone never starts the thread: the next day's landing (or the run report, or
    # the process's exit) writes them in its own thread.
    root = tmp_path / "lake"
    _ingest_through_the_dataset(root, "2024-07-01", "2024-07-02")
    assert not (root / "metadata/truth/dt=2024-07-02").exists()
    assert (root / "metadata/truth/dt=2024-07-01/demand.parquet").exists()
    landing.finish_landing()
    _ingest_through_the_dataset(root, "2024-07-03", "2024-07-03")
    landing.finish_landing()
    assert _lake_files(root) == reference


def test_a_failed_truth_write_fails_the_report_and_the_next_landing_writes_it(
        tmp_path, monkeypatch, reference):
    root = tmp_path / "lake"
    _ingest_through_the_dataset(root, "2024-07-01", "2024-07-01")
    real = Lake.write_bytes

    def failing(lake, relative, data, *args, **kwargs):
        if relative.startswith("metadata/truth/dt=2024-07-02"):
            raise LakeUnavailableError(f"cannot write {lake.url(relative)}: disk full")
        return real(lake, relative, data, *args, **kwargs)

    monkeypatch.setattr(Lake, "write_bytes", failing)
    _ingest_through_the_dataset(root, "2024-07-02", "2024-07-02")
    # (Kedro's dataset wraps the lake's error; the message stays.)
    with pytest.raises((DatasetError, LakeUnavailableError), match="truth/dt=2024-07-02.*disk full"):
        RunReportDataset(path=str(root), kind="validation").save({"generated_at": "x"})
    monkeypatch.undo()
    lake = Lake(str(root))
    # Committed facts, no truth, no checkpoint: the mark says so.
    assert (root / "raw/sales/dt=2024-07-02/sales.csv").exists()
    assert not (root / "metadata/truth/dt=2024-07-02").exists()
    assert [d.isoformat() for d in landing.unfinished_days(lake)] == ["2024-07-02"]
    # The next day's run (a new process) writes them first, then lands its day.
    _ingest_through_the_dataset(root, "2024-07-03", "2024-07-03")
    landing.finish_landing()
    assert _lake_files(root) == reference
    assert landing.unfinished_days(lake) == []


def test_a_mark_on_a_day_whose_facts_are_incomplete_is_left_to_its_re_landing(
        tmp_path, reference):
    root = tmp_path / "lake"
    _ingest_through_the_dataset(root, "2024-07-01", "2024-07-03")
    landing.finish_landing()
    lake = Lake(str(root))
    # As a kill after the mark and the truth's removal, before day 2's first commit point.
    lake.write_bytes("metadata/unfinished/dt=2024-07-02/unfinished.txt", b"2024-07-02\n")
    lake.remove("metadata/manifests/sales/dt=2024-07-02/manifest.json")
    lake.remove("metadata/truth/dt=2024-07-02/demand.parquet")
    world = nodes.shared_world(nodes.simulation_config(SEED, SCALE, SIM))
    assert landing.finish_unfinished_days(lake, world) == []
    assert [d.isoformat() for d in landing.unfinished_days(lake)] == ["2024-07-02"]
    _ingest_through_the_dataset(root, "2024-07-02", "2024-07-02")
    landing.finish_landing()
    assert landing.unfinished_days(lake) == []
    assert _lake_files(root) == reference


@pytest.mark.parametrize("point", ["metadata/truth", "metadata/state"])
def test_a_run_killed_while_finishing_a_day_is_repaired_by_the_next_days_run(
        tmp_path, reference, point):
    from tests.conftest import conf_with_lake, run_kedro
    from tests.scenarios.conftest import crash_env

    root = tmp_path / "lake"
    conf = conf_with_lake(tmp_path, str(root))
    common = f"seed={SEED},scale={SCALE},simulation.review_period_days=10"
    # SIGKILLed in the middle of writing day 2's truth (or checkpoint), on the background
    # thread, after day 2's facts were committed.
    killed = run_kedro("run", "--conf-source", str(conf), "--pipelines", "ingest", "--params",
                       f"start_date=2024-07-01,end_date=2024-07-03,{common}",
                       env=crash_env(tmp_path / "crash", f"{point}/dt=2024-07-02"))
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (root / "metadata/manifests/shipments/dt=2024-07-02/manifest.json").exists()
    assert (root / "metadata/unfinished/dt=2024-07-02").exists()
    # The scheduler's next run lands day 3 only.
    rerun = run_kedro("run", "--conf-source", str(conf), "--pipelines", "ingest", "--params",
                      f"run_date=2024-07-03,{common}")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    got = {k: v for k, v in _lake_files(root).items() if not k.startswith("metadata/runs/")}
    assert got == reference
