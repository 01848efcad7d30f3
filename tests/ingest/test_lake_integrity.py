"""The raw zone keeps its integrity on the paths operators walk: repairs, corrupt metadata,
a lake's configuration, checkpoints, file modes and honest logs (issue 10)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
from pathlib import Path

import pytest

from retailops.errors import CorruptPartitionError, LakeConfigurationError
from retailops.lake.lake_config import ensure_lake_configuration, read_lake_configuration
from retailops.lake.partitions import complete_days, read_manifest, verify_lake
from retailops.lake.storage import Lake
from retailops.simulation import GENERATOR_VERSION, SimulationConfig

from .helpers import SMALL, day, ingest, tree_digest

FACTS = ("sales", "inventory", "shipments")
SEED = 7  # helpers.ingest's default seed
SCALE = 0.05


@pytest.fixture(scope="module")
def week_lake(tmp_path_factory) -> Path:
    """A week landed in one range, never modified by the tests (they copy it)."""
    root = tmp_path_factory.mktemp("integrity") / "lake"
    ingest(Lake(str(root)), "2024-07-01", "2024-07-07", scale=SCALE, seed=SEED)
    return root


@pytest.fixture
def lake_copy(week_lake, tmp_path) -> Path:
    root = tmp_path / "lake"
    shutil.copytree(week_lake, root)
    return root


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- 1. overwrite repairs what is stored, and unparsable manifests are incomplete -------------

def test_overwrite_repairs_a_tampered_data_file(week_lake, lake_copy):
    path = lake_copy / "raw/sales/dt=2024-07-03/sales.csv"
    original = path.read_bytes()
    path.write_bytes(original.replace(b"ST00", b"ST99", 1))
    reports = ingest(Lake(str(lake_copy)), "2024-07-03", "2024-07-03", overwrite=True)
    assert [r.outcomes for r in reports] == [
        {"sales": "rewritten", "inventory": "skipped", "shipments": "skipped"}]
    assert path.read_bytes() == original
    assert tree_digest(lake_copy, include_metadata=False) == tree_digest(
        week_lake, include_metadata=False)


def test_overwrite_repairs_a_missing_data_file(week_lake, lake_copy):
    path = lake_copy / "raw/shipments/dt=2024-07-05/shipments.csv"
    original = path.read_bytes()
    path.unlink()
    reports = ingest(Lake(str(lake_copy)), "2024-07-05", "2024-07-05", overwrite=True)
    assert reports[0].outcomes["shipments"] == "rewritten"
    assert path.read_bytes() == original


def test_overwrite_relands_a_partition_whose_manifest_does_not_parse(week_lake, lake_copy):
    manifest = lake_copy / "metadata/manifests/inventory/dt=2024-07-04/manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:20])  # truncated JSON
    reports = ingest(Lake(str(lake_copy)), "2024-07-04", "2024-07-04", overwrite=True)
    assert reports[0].outcomes["inventory"] == "written"
    assert json.loads(manifest.read_text())["sha256"] == _sha(
        lake_copy / "raw/inventory/dt=2024-07-04/inventory.csv")


def test_a_plain_run_relands_a_partition_whose_manifest_does_not_parse(week_lake, lake_copy):
    manifest = lake_copy / "metadata/manifests/sales/dt=2024-07-06/manifest.json"
    manifest.write_bytes(b'{"table": "sales", "dt": "2024-07')
    lake = Lake(str(lake_copy))
    assert read_manifest(lake, "sales", day("2024-07-06")) is None
    assert day("2024-07-06") not in complete_days(lake, "sales")
    reports = ingest(lake, "2024-07-01", "2024-07-07")
    outcomes = {r.day.isoformat(): r.outcomes for r in reports}
    assert outcomes["2024-07-06"]["sales"] == "written"
    assert json.loads(manifest.read_text())["dt"] == "2024-07-06"
    assert tree_digest(lake_copy, include_metadata=False) == tree_digest(
        week_lake, include_metadata=False)


# --- 2. verify_lake: every partition's size, the sha256 of chosen days ----------------------

def test_verify_lake_passes_on_a_clean_lake_and_returns_the_manifests(week_lake):
    manifests = verify_lake(Lake(str(week_lake)), FACTS, sha_days=[day("2024-07-07")])
    assert sorted(manifests) == sorted(FACTS)
    for table in FACTS:
        assert sorted(manifests[table]) == [day(f"2024-07-0{d}") for d in range(1, 8)]
        stored = week_lake / f"raw/{table}/dt=2024-07-02/{table}.csv"
        assert manifests[table][day("2024-07-02")].sha256 == _sha(stored)


def test_verify_lake_catches_a_truncated_file_on_any_day_by_its_size(lake_copy):
    path = lake_copy / "raw/inventory/dt=2024-07-02/inventory.csv"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CorruptPartitionError, match="inventory/dt=2024-07-02/inventory.csv"):
        verify_lake(Lake(str(lake_copy)), FACTS, sha_days=[day("2024-07-07")])


def test_verify_lake_catches_a_missing_file(lake_copy):
    (lake_copy / "raw/sales/dt=2024-07-01/sales.csv").unlink()
    with pytest.raises(CorruptPartitionError, match="sales/dt=2024-07-01/sales.csv.*missing"):
        verify_lake(Lake(str(lake_copy)), FACTS, sha_days=[])


def test_verify_lake_checks_the_sha256_of_the_chosen_days_only(lake_copy):
    path = lake_copy / "raw/sales/dt=2024-07-03/sales.csv"
    path.write_bytes(path.read_bytes().replace(b"ST00", b"ST99", 1))  # same size, other bytes
    lake = Lake(str(lake_copy))
    # The cheap check (sizes) cannot see a same-size edit on a day outside sha_days...
    verify_lake(lake, FACTS, sha_days=[day("2024-07-07")])
    # ...and the sha256 of the day names it.
    with pytest.raises(CorruptPartitionError, match="sales/dt=2024-07-03/sales.csv.*sha256"):
        verify_lake(lake, FACTS, sha_days=[day("2024-07-03")])
    with pytest.raises(CorruptPartitionError, match="sales/dt=2024-07-03/sales.csv.*sha256"):
        verify_lake(lake, FACTS, sha_days={"sales": [day("2024-07-03")]})


def test_verify_lake_ignores_a_partition_whose_manifest_does_not_parse(lake_copy):
    """Incomplete, like a partition without a manifest: readers skip it, ingest re-lands it."""
    manifest = lake_copy / "metadata/manifests/sales/dt=2024-07-05/manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:30])
    manifests = verify_lake(Lake(str(lake_copy)), FACTS, sha_days=[day("2024-07-05")])
    assert day("2024-07-05") not in manifests["sales"]
    assert day("2024-07-05") in manifests["inventory"]


# --- 3. manifests: one JSON record per line, with the configuration's fingerprint -----------

def test_manifests_are_one_json_record_per_line_with_the_config_fingerprint(week_lake):
    expected = SimulationConfig.from_params(
        {"seed": SEED, "scale": SCALE, **SMALL}).fingerprint()
    manifests = sorted(week_lake.glob("metadata/manifests/*/dt=*/manifest.json"))
    assert len(manifests) == 21 + 1  # three facts a day for a week, and Monday's plan
    for path in manifests:
        text = path.read_text()
        # Athena's JSON SerDe reads one record per line: exactly that, a line at a time.
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
        assert len(records) == 1 and text.count("\n") == 1, path
        assert records[0]["config_fingerprint"] == expected
        assert records[0]["generator_version"] == GENERATOR_VERSION


# --- 4. the lake's configuration -------------------------------------------------------------

def test_the_lake_records_its_configuration(week_lake):
    record = json.loads((week_lake / "metadata/lake.json").read_text())
    assert record["seed"] == SEED and record["scale"] == SCALE
    assert record["review_period_days"] == SMALL["review_period_days"]
    assert record["generator_version"] == GENERATOR_VERSION
    assert record["config_fingerprint"] == SimulationConfig.from_params(
        {"seed": SEED, "scale": SCALE, **SMALL}).fingerprint()
    assert "defect_rates" in record
    assert read_lake_configuration(Lake(str(week_lake))) == record


def test_another_configuration_is_refused_naming_both(lake_copy):
    before = tree_digest(lake_copy)
    other = SimulationConfig.from_params({"seed": 8, "scale": SCALE, **SMALL})
    with pytest.raises(LakeConfigurationError) as raised:
        ensure_lake_configuration(Lake(str(lake_copy)), other)
    message = str(raised.value)
    assert "\n" not in message
    assert f"built with seed=7 scale={SCALE}" in message
    assert f"asks for seed=8 scale={SCALE}" in message
    assert str(lake_copy) in message and "lake_root" in message
    assert tree_digest(lake_copy) == before


def test_another_simulation_parameter_is_refused_naming_it(lake_copy):
    other = SimulationConfig.from_params({"seed": SEED, "scale": SCALE, "review_period_days": 3})
    with pytest.raises(LakeConfigurationError, match="review_period_days=3"):
        ensure_lake_configuration(Lake(str(lake_copy)), other)


@pytest.mark.parametrize("change, named", [
    ({"safety_factor": 0.5}, "safety_factor=0.5"),
    ({"builtin_policy": "periodic_review_before_issue_15"},
     "builtin_policy=periodic_review_before_issue_15"),
])
def test_another_ordering_setting_is_refused_naming_it(lake_copy, change, named):
    """The built-in policy's settings change every delivery: a lake of one is not continued
    with the other (the day-one configuration check asks for a rebuild)."""
    before = tree_digest(lake_copy)
    other = SimulationConfig.from_params({"seed": SEED, "scale": SCALE, **SMALL, **change})
    with pytest.raises(LakeConfigurationError, match=f"asks for seed={SEED} scale={SCALE} "
                       f"{named}: use another lake_root, or delete the lake"):
        ensure_lake_configuration(Lake(str(lake_copy)), other)
    assert tree_digest(lake_copy) == before


def test_a_lake_from_before_configurations_were_recorded_is_refused(lake_copy):
    (lake_copy / "metadata/lake.json").unlink()
    config = SimulationConfig.from_params({"seed": SEED, "scale": SCALE, **SMALL})
    with pytest.raises(LakeConfigurationError, match="no metadata/lake.json.*delete the lake"):
        ensure_lake_configuration(Lake(str(lake_copy)), config)
    assert not (lake_copy / "metadata/lake.json").exists()


def test_a_lake_from_another_generator_version_is_refused(lake_copy):
    path = lake_copy / "metadata/lake.json"
    record = json.loads(path.read_text())
    record["generator_version"] = "retailops-sim/0.9.0"
    path.write_text(json.dumps(record) + "\n")
    config = SimulationConfig.from_params({"seed": SEED, "scale": SCALE, **SMALL})
    with pytest.raises(LakeConfigurationError,
                       match=f"retailops-sim/0.9.0.*{GENERATOR_VERSION}.*delete the lake"):
        ensure_lake_configuration(Lake(str(lake_copy)), config)


def test_the_configuration_check_runs_before_any_write_of_the_ingest_pipeline():
    from retailops.pipelines.ingest import create_pipeline

    pipeline = create_pipeline()
    writers = {"land_dimensions", "simulate_and_land_days", "publish_promotion_plans"}
    check = next(n for n in pipeline.nodes if n.name == "check_lake_configuration")
    downstream = {n.name for n in pipeline.from_nodes(check.name).nodes}
    assert writers <= downstream


# --- 5. checkpoints: corrupt ones are skipped, old ones pruned ------------------------------

def _drop_day(root: Path, dt: str) -> None:
    for table in FACTS:
        shutil.rmtree(root / f"raw/{table}/dt={dt}")
        shutil.rmtree(root / f"metadata/manifests/{table}/dt={dt}")


@pytest.mark.parametrize("damage", [
    lambda data: data[: len(data) // 2],                        # truncated
    lambda data: b"\xff" * 8 + data[8:],                        # absurd length prefix
    lambda data: data[:40] + bytes(b ^ 0x5A for b in data[40:80]) + data[80:],  # flipped bytes
    lambda data: b"",
])
def test_a_corrupt_checkpoint_is_skipped_with_a_warning(week_lake, lake_copy, damage, caplog):
    state = lake_copy / "metadata/state/dt=2024-07-06/state.npz.zst"
    state.write_bytes(damage(state.read_bytes()))
    _drop_day(lake_copy, "2024-07-07")
    with caplog.at_level(logging.INFO):
        ingest(Lake(str(lake_copy)), "2024-07-07", "2024-07-07")
    assert any(r.levelno == logging.WARNING and "dt=2024-07-06" in r.getMessage()
               for r in caplog.records), caplog.text
    assert "resumed from the checkpoint of 2024-07-05" in caplog.text
    assert tree_digest(lake_copy, include_metadata=False) == tree_digest(
        week_lake, include_metadata=False)


def test_checkpoints_are_pruned_to_recent_days_plus_a_sparse_history(tmp_path, caplog):
    root = tmp_path / "lake"
    lake = Lake(str(root))
    ingest(lake, "2024-07-01", "2024-08-19", scale=0.01)  # 50 days
    kept = sorted(p.name for p in (root / "metadata/state").iterdir())
    # the last 14 days (08-06..08-19) and the newest of each 30 days of history (07-30)
    assert kept == ["dt=2024-07-30"] + [f"dt=2024-08-{d:02d}" for d in range(6, 20)]
    data_before = tree_digest(root, include_metadata=False)

    # A day whose checkpoint was pruned re-lands from the sparse checkpoint before it...
    original = (root / "raw/sales/dt=2024-08-02/sales.csv").read_bytes()
    _drop_day(root, "2024-08-02")
    with caplog.at_level(logging.INFO):
        ingest(lake, "2024-08-02", "2024-08-02", scale=0.01)
    assert "resumed from the checkpoint of 2024-07-30" in caplog.text
    assert (root / "raw/sales/dt=2024-08-02/sales.csv").read_bytes() == original
    assert tree_digest(root, include_metadata=False) == data_before
    # ...and the next daily run resumes from the newest one.
    caplog.clear()
    with caplog.at_level(logging.INFO):
        ingest(lake, "2024-08-20", "2024-08-20", scale=0.01)
    assert "resumed from the checkpoint of 2024-08-19" in caplog.text
    kept = sorted(p.name for p in (root / "metadata/state").iterdir())
    assert kept == ["dt=2024-07-30"] + [f"dt=2024-08-{d:02d}" for d in range(7, 21)]


def test_a_backfill_writes_only_the_checkpoints_it_keeps(tmp_path, monkeypatch):
    from retailops.lake import landing

    saved = []
    real = landing.save_state
    monkeypatch.setattr(landing, "save_state", lambda lake, state, fingerprint: (
        saved.append(str(state.next_day - __import__("datetime").timedelta(days=1))),
        real(lake, state, fingerprint))[1])
    root = tmp_path / "lake"
    ingest(Lake(str(root)), "2024-07-01", "2024-09-13", scale=0.01)  # 75 days
    # Kept once the run is over: the last 14 days (08-31..09-13) and the newest of each 30-day
    # block of history (07-30, 08-29); none other is written only to be pruned.
    kept = ["2024-07-30", "2024-08-29", "2024-08-31"] + [f"2024-09-{d:02d}" for d in range(1, 14)]
    assert saved == kept
    assert sorted(p.name for p in (root / "metadata/state").iterdir()) == [f"dt={d}" for d in kept]


def test_a_backfill_stopped_midway_resumes_from_a_kept_checkpoint(tmp_path, caplog):
    from retailops.lake.landing import land_day
    from retailops.pipelines.ingest import nodes

    reference = tmp_path / "reference"
    ingest(Lake(str(reference)), "2024-07-01", "2024-09-13", scale=0.01)
    root = tmp_path / "lake"
    lake = Lake(str(root))
    ingest(lake, "2024-07-01", "2024-07-01", scale=0.01)  # configuration, dimensions, a day
    window = nodes.resolve_window("2024-07-01", "2024-09-13", None)
    for landing in nodes.simulate_window(lake, window, SEED, 0.01, SMALL, False):
        if landing.batch.day == day("2024-08-15"):
            break  # the run dies here: 08-14 landed, no checkpoint after 07-30
        land_day(lake, landing)
    # (07-01's, from the first run, was pruned: 07-30 is the newest of its block)
    assert sorted(p.name for p in (root / "metadata/state").iterdir()) == ["dt=2024-07-30"]
    with caplog.at_level(logging.INFO):
        ingest(lake, "2024-07-01", "2024-09-13", scale=0.01)
    assert "resumed from the checkpoint of 2024-07-30, replayed 15 days" in caplog.text
    assert tree_digest(root, include_metadata=False) == tree_digest(
        reference, include_metadata=False)
    assert tree_digest(root / "metadata/state") == tree_digest(reference / "metadata/state")


# --- 6. file modes follow the umask ----------------------------------------------------------

def test_lake_files_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        root = tmp_path / "lake"
        ingest(Lake(str(root)), "2024-07-01", "2024-07-01", scale=0.01)
    finally:
        os.umask(previous)
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files
    modes = {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in files}
    assert set(modes.values()) == {0o644}, modes


# --- 7. honest logs --------------------------------------------------------------------------

def test_the_log_says_what_was_replayed_without_a_checkpoint(week_lake, lake_copy, caplog):
    shutil.rmtree(lake_copy / "metadata/state")
    _drop_day(lake_copy, "2024-07-07")
    with caplog.at_level(logging.INFO):
        ingest(Lake(str(lake_copy)), "2024-07-07", "2024-07-07")
    assert "replayed 6 days from 2024-07-01 (no checkpoint)" in caplog.text
    assert "resumed from" not in caplog.text


def test_per_day_throughput_includes_the_simulation_time(tmp_path, monkeypatch):
    import time

    import retailops.simulation as simulation

    real = simulation.simulate_day

    def slow_simulate_day(world, state):
        time.sleep(0.25)
        return real(world, state)

    monkeypatch.setattr(simulation, "simulate_day", slow_simulate_day)
    reports = ingest(Lake(str(tmp_path / "lake")), "2024-07-01", "2024-07-02", scale=0.01)
    assert [r.seconds >= 0.25 for r in reports] == [True, True]


# --- the command line: a run with another configuration writes nothing ----------------------

def test_a_run_with_another_seed_is_refused_before_anything_is_written(tmp_path):
    from tests.conftest import conf_with_lake, run_kedro

    lake = tmp_path / "lake"
    conf = conf_with_lake(tmp_path, str(lake))
    first = run_kedro("run", "--pipelines", "ingest", "--conf-source", str(conf),
                      "--params", "run_date=2024-07-02,scale=0.02,seed=1")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "replayed 1 day from 2024-07-01 (no checkpoint)" in first.stdout + first.stderr
    files = sorted(p for p in lake.rglob("*") if p.is_file())
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}

    refused = run_kedro("run", "--pipelines", "ingest", "--conf-source", str(conf),
                        "--params", "run_date=2024-07-03,scale=0.02,seed=2")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"retailops: error: the lake at {lake} was built with seed=1 scale=0.02 "
        f"(generator {GENERATOR_VERSION}); this run asks for seed=2 scale=0.02: "
        "use another lake_root, or delete the lake to rebuild it"], refused.stderr
    after = sorted(p for p in lake.rglob("*") if p.is_file())
    assert after == files, "nothing written: no dimension rewrite, no new day"
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in after} == before


# --- the same on S3 (moto's server over HTTP) -------------------------------------------------

def test_repair_verification_and_configuration_work_on_s3(aws_env):
    import boto3

    boto3.client("s3").create_bucket(Bucket="retailops-integrity")
    lake = Lake("s3://retailops-integrity")
    ingest(lake, "2024-07-01", "2024-07-01", scale=0.01)
    assert read_lake_configuration(lake)["scale"] == 0.01
    manifests = verify_lake(lake, FACTS, sha_days=[day("2024-07-01")])
    assert sorted(manifests["sales"]) == [day("2024-07-01")]

    key = "raw/sales/dt=2024-07-01/sales.csv"
    original = lake.read_bytes(key)
    lake.write_bytes(key, original[:-5])
    with pytest.raises(CorruptPartitionError, match=f"s3://retailops-integrity/{key}"):
        verify_lake(lake, FACTS, sha_days=[])
    reports = ingest(lake, "2024-07-01", "2024-07-01", scale=0.01, overwrite=True)
    assert reports[0].outcomes["sales"] == "rewritten"
    assert lake.read_bytes(key) == original
    verify_lake(lake, FACTS, sha_days=[day("2024-07-01")])

    with pytest.raises(LakeConfigurationError, match="seed=7 scale=0.01.*seed=8 scale=0.01"):
        ensure_lake_configuration(lake, SimulationConfig.from_params(
            {"seed": 8, "scale": 0.01, **SMALL}))


def test_a_writer_killed_mid_file_leaves_no_temporary_behind_the_next_run(week_lake, lake_copy):
    """SIGKILL skips every clean-up: the half-written temporary file stays in the partition
    folder, the manifest was never written; the next run re-lands the day and removes it."""
    folder = lake_copy / "raw/sales/dt=2024-07-07"
    data = (folder / "sales.csv").read_bytes()
    (folder / "sales.csv").unlink()
    (folder / ".tmp-killed.part").write_bytes(data[: len(data) // 3])
    (lake_copy / "metadata/manifests/sales/dt=2024-07-07/manifest.json").unlink()
    ingest(Lake(str(lake_copy)), "2024-07-01", "2024-07-07")
    assert sorted(p.name for p in folder.iterdir()) == ["sales.csv"]
    assert tree_digest(lake_copy, include_metadata=False) == tree_digest(
        week_lake, include_metadata=False)
