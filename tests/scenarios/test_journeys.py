"""Operator journeys, each run as separate ``kedro`` processes in its own project folder and each
ending in the invariant: the same raw zone and the same marts as one clean full build of the
same days (``conftest.assert_same_as_reference``).

Days are numbered 1..4 from 2024-07-01 (``day(k)``); the scale is tiny, so what is measured here
is behaviour, not volume.
"""

from __future__ import annotations

import hashlib
import json
import shutil

from tests.scenarios.conftest import (
    WINDOW_DAYS,
    Project,
    assert_same_as_reference,
    assert_same_verdicts_as_reference,
    crash_env,
    day,
    mart_differences,
    one_error_line,
    output_tail,
    raw_zone_differences,
    snapshot,
    tamper_truncate,
)


def test_history_landed_by_ingest_then_daily_runs_only(project: Project, reference: Project):
    # The backfill lands history without building a warehouse; the scheduler takes over.
    project.ok(project.ingest(1, 2))
    assert not project.warehouse.exists()
    project.ok(project.daily(3))
    project.ok(project.daily(4))
    assert_same_as_reference(project, reference)


def test_daily_runs_only_from_an_empty_lake_then_the_last_day_re_run_three_times(
        project: Project, reference: Project, tmp_path):
    for k in range(1, WINDOW_DAYS + 1):
        project.ok(project.daily(k))
    assert_same_as_reference(project, reference)
    # The operator re-runs the same day (a retry, a second trigger): nothing changes.
    for _ in range(2):
        project.ok(project.daily(WINDOW_DAYS))
    assert_same_as_reference(project, reference)
    assert_same_verdicts_as_reference(project, reference, WINDOW_DAYS, tmp_path / "clean")


def test_gap_then_backfill(project: Project, reference: Project):
    project.ok(project.daily(1))
    # Days 2 and 3 were missed (the scheduler was down); day 4 runs on time.
    gap = project.daily(4)
    assert gap.returncode != 0, ("the daily run of day 4 passed validation with days 2 and 3 "
                                 "never landed\n" + project.history())
    assert day(2) in one_error_line(gap), "the error does not name the first missing day"
    # The operator backfills the gap, then builds.
    project.ok(project.ingest(2, 3))
    project.ok(project.transform())
    assert_same_as_reference(project, reference)


def test_corrupted_past_partition_is_named_repaired_and_rebuilt(project: Project,
                                                                reference: Project, tmp_path):
    project.ok(project.build(1, 3))
    # A past day's data file loses its last line after the warehouse was built.
    damaged = project.raw_file("sales", 1)
    tamper_truncate(damaged)

    stopped = project.daily(4)
    line = one_error_line(stopped)
    assert f"raw/sales/dt={day(1)}" in line, f"the error does not name the damaged file: {line}"

    # The documented repair: re-land that day with overwrite=true.
    project.ok(project.ingest(1, 1, overwrite="true"))
    assert damaged.read_bytes() == reference.raw_file("sales", 1).read_bytes(), (
        "overwrite=true did not restore the damaged file\n" + project.history())
    # The next daily run rebuilds everything the damage touched.
    project.ok(project.daily(4))
    assert_same_as_reference(project, reference)
    assert_same_verdicts_as_reference(project, reference, 4, tmp_path / "clean")


def test_sigkill_in_the_middle_of_a_file_write_then_rerun(project: Project, reference: Project,
                                                          tmp_path):
    target = f"raw/sales/dt={day(3)}"
    killed = project.kedro("ingest", {"start_date": day(1), "end_date": day(WINDOW_DAYS)},
                           env=crash_env(tmp_path / "crash", target))
    assert killed.returncode == -9, (f"the crash was not injected (exit {killed.returncode}):\n"
                                     f"{output_tail(killed, 1500)}")
    # Proof the kill came mid-write: half a file staged beside a destination that is not there.
    folder = project.lake / target
    assert any(p.name.startswith(".tmp-") and p.stat().st_size > 0 for p in folder.iterdir())
    assert not (folder / "sales.csv").exists()

    # The operator re-runs the same command, then builds.
    project.ok(project.ingest(1, WINDOW_DAYS))
    project.ok(project.transform())
    assert_same_as_reference(project, reference)


def test_scale_change_is_refused_with_nothing_written(project: Project, reference: Project):
    project.ok(project.ingest(1, 2))
    before = snapshot(project.lake, project.warehouse.parent)

    refused = project.daily(3, scale="0.02")
    line = one_error_line(refused)
    assert refused.returncode == 2, f"exit {refused.returncode}, expected 2 (a user error)"
    assert "0.01" in line and "0.02" in line, f"the error does not name both scales: {line}"

    after = snapshot(project.lake, project.warehouse.parent)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert not changed, "the refused run wrote to the lake:\n  " + "\n  ".join(changed[:20])
    # And what is there is still the first two days of the clean build.
    assert raw_zone_differences(project.lake, reference.lake, days=[day(1), day(2)]) == []


def test_a_truncated_past_manifest_makes_its_day_incomplete_until_it_is_re_landed(
        project: Project, reference: Project, tmp_path):
    project.ok(project.build(1, WINDOW_DAYS))
    # A past day's manifest is cut short (a bad copy, a full disk): it no longer parses, so that
    # partition is incomplete for every reader, dbt included (no "Malformed JSON" from dbt).
    manifest = project.lake / "metadata" / "manifests" / "sales" / f"dt={day(2)}" / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:40])

    # The day is missing from this week: the daily run says so in one line, naming it.
    stopped = project.daily(WINDOW_DAYS)
    line = one_error_line(stopped)
    assert day(2) in line and "Malformed JSON" not in line, line

    # A plain backfill of the week re-lands exactly the incomplete partition; the next daily
    # run rebuilds it, and the warehouse is again the clean full build.
    project.ok(project.ingest(1, WINDOW_DAYS))
    project.ok(project.daily(WINDOW_DAYS))
    assert_same_as_reference(project, reference)
    assert_same_verdicts_as_reference(project, reference, WINDOW_DAYS, tmp_path / "clean")


def test_a_partition_relanded_with_other_bytes_reaches_the_marts(project: Project,
                                                                 reference: Project, tmp_path):
    # The simulation is deterministic, so a re-land normally brings back the same bytes. Here
    # day 2's sales are re-landed with one price changed - data file and manifest together,
    # as the commit protocol writes them - after the warehouse was built from the old bytes
    # and a daily run validated the week (keeping each clean day's results, validation/kept.py).
    project.ok(project.build(1, 3))
    project.ok(project.daily(3))
    data_file = project.raw_file("sales", 2)
    lines = data_file.read_bytes().split(b"\n")
    fields = lines[1].split(b",")
    fields[5] = b"%.2f" % (float(fields[5]) + 1)
    lines[1] = b",".join(fields)
    new_bytes = b"\n".join(lines)
    data_file.write_bytes(new_bytes)
    manifest_file = project.lake / "metadata/manifests/sales" / f"dt={day(2)}" / "manifest.json"
    manifest = json.loads(manifest_file.read_bytes())
    manifest.update(sha256=hashlib.sha256(new_bytes).hexdigest(), bytes=len(new_bytes))
    manifest_file.write_text(json.dumps(manifest, separators=(",", ":")) + "\n")

    project.ok(project.daily(4))

    # The marts must be those of a clean full build of this raw zone ...
    clean = Project.create(tmp_path / "clean")
    for zone in ("raw", "metadata/manifests", "metadata/defects", "metadata/truth",
                 "metadata/lake.json"):
        source = project.lake / zone
        if source.is_dir():
            shutil.copytree(source, clean.lake / zone)
        elif source.exists():
            (clean.lake / zone).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clean.lake / zone)
    clean.ok(clean.transform())
    problems = mart_differences(project, clean)
    assert not problems, ("the changed partition did not reach the marts:\n  "
                          + "\n  ".join(problems) + "\n" + project.history())
    # ... which differ from the untouched build: the change is visible, not lost.
    assert any("fct_daily_sales" in p for p in mart_differences(project, reference))
    # And the daily validation judged the new bytes, not the results kept for the old ones.
    assert_same_verdicts_as_reference(project, clean, 4, tmp_path / "clean-validated")


def test_the_lake_moved_to_another_folder_then_daily_runs(project: Project, reference: Project):
    # The operator moves the lake (a bigger disk) and points lake_root at it; the old folder is
    # gone. DuckDB's dimension views read the lake's files by path and daily builds do not
    # recreate them, so the next daily run must rebuild what reads the old location.
    project.ok(project.daily(1))
    project.ok(project.daily(2))
    moved = project.root / "bigger-disk" / "lake"
    moved.parent.mkdir()
    shutil.move(str(project.lake), str(moved))
    globals_file = project.conf / "base" / "globals.yml"
    spelled = globals_file.read_text()
    assert f"lake_root: {project.lake}\n" in spelled
    globals_file.write_text(spelled.replace(f"lake_root: {project.lake}\n",
                                            f"lake_root: {moved}\n"))
    project.lake = moved
    third = project.ok(project.daily(3))
    assert "the lake moved" in (third.stdout + third.stderr), output_tail(third)
    project.ok(project.daily(4))
    assert_same_as_reference(project, reference)
