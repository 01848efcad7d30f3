"""Simulating ahead in a child process (``retailops.simulation.ahead``) changes how a backfill
is computed, never what lands: the raw zone of a window landed with the child is byte for byte
the one landed serially, and a child that dies or is abandoned is named or stopped."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from retailops.lake.storage import Lake
from retailops.simulation import (
    SimulationConfig,
    ahead,
    build_world,
    initial_state,
    run_days,
)
from tests.ingest.helpers import ingest, tree_digest


@pytest.fixture
def children(monkeypatch) -> list[subprocess.Popen]:
    """Every child process the module starts (really started; only recorded here)."""
    started: list[subprocess.Popen] = []
    real = subprocess.Popen

    def record(*args, **kwargs):
        started.append(real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(ahead.subprocess, "Popen", record)
    return started


@pytest.fixture
def staging_root(tmp_path: Path, monkeypatch) -> Path:
    """The temporary folder the days are staged under, private to the test."""
    root = tmp_path / "system-tmp"
    root.mkdir()
    monkeypatch.setattr(ahead.tempfile, "tempdir", str(root))
    return root


@pytest.fixture
def child_from_the_first_day(monkeypatch) -> None:
    """The caller waits for the child instead of simulating the first days while it starts."""
    monkeypatch.setattr(ahead, "_has_message", lambda stream: True)


def _staged(root: Path) -> list[Path]:
    """The staging folders of the processes simulating ahead under ``root``."""
    return sorted(p for p in root.iterdir() if p.name.startswith("retailops-ahead-"))


@pytest.mark.usefixtures("child_from_the_first_day")
def test_a_window_landed_with_the_child_is_byte_identical_to_a_serial_one(
        tmp_path: Path, monkeypatch, children, staging_root) -> None:
    monkeypatch.setattr(ahead, "MIN_DAYS_IN_CHILD", 10**9)
    ingest(Lake(str(tmp_path / "serial")), "2024-07-01", "2024-07-12", scale=0.05)
    assert children == []
    monkeypatch.setattr(ahead, "MIN_DAYS_IN_CHILD", 2)
    ingest(Lake(str(tmp_path / "ahead")), "2024-07-01", "2024-07-12", scale=0.05)
    assert len(children) == 1 and children[0].returncode == 0
    serial, parallel = tree_digest(tmp_path / "serial"), tree_digest(tmp_path / "ahead")
    assert sum("raw/sales/dt=" in p for p in serial) == 12
    assert parallel == serial
    assert _staged(staging_root) == []  # every staged day taken, the folder removed


@pytest.mark.usefixtures("child_from_the_first_day")
def test_the_child_stages_at_most_ahead_days_that_wait(staging_root: Path) -> None:
    world = build_world(SimulationConfig(seed=7, scale=0.02))
    days = ahead.run_days_ahead(world, initial_state(world), date(2024, 8, 30), min_days=2)
    assert next(days).day == date(2024, 7, 1)
    # The consumer lands nothing for a while: the child fills the allowance, and stops there.
    staged: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not staged or staged[-1] < ahead.AHEAD_DAYS):
        staged += [len(list(f.iterdir())) for f in _staged(staging_root)] or [0]
        time.sleep(0.05)
    time.sleep(1.0)
    staged += [len(list(f.iterdir())) for f in _staged(staging_root)]
    assert max(staged) == ahead.AHEAD_DAYS and staged[-1] == ahead.AHEAD_DAYS
    # Taking a day lets exactly one more be staged; the days still come in order.
    taken = [next(days).day for _ in range(2)]
    assert taken == [date(2024, 7, 2), date(2024, 7, 3)]
    days.close()
    assert _staged(staging_root) == []


@pytest.mark.usefixtures("child_from_the_first_day")
def test_an_error_in_the_child_comes_after_the_days_it_staged_before(staging_root: Path) -> None:
    # The child's simulation fails on 2024-07-04; the three days before it were staged first.
    failing_child = (
        "import sys\n"
        "from datetime import date\n"
        "import retailops.simulation.ahead as ahead\n"
        "real = ahead.simulate_day\n"
        "def failing(world, state):\n"
        "    if state.next_day == date(2024, 7, 4):\n"
        "        raise ValueError('demand model broke on 2024-07-04')\n"
        "    return real(world, state)\n"
        "ahead.simulate_day = failing\n"
        "sys.exit(ahead._serve(sys.argv[1]))\n")
    world = build_world(SimulationConfig(seed=7, scale=0.02))
    days = ahead.run_days_ahead(world, initial_state(world), date(2024, 7, 20), min_days=2)
    real_command = ahead._child_command
    try:
        ahead._child_command = lambda: [sys.executable, "-c", failing_child]
        first = next(days)
    finally:
        ahead._child_command = real_command
    assert first.day == date(2024, 7, 1)
    # Let the child stage the two days and fail before they are taken.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(
            len(list(f.iterdir())) for f in _staged(staging_root)) < 2:
        time.sleep(0.05)
    time.sleep(1.0)
    assert [next(days).day for _ in range(2)] == [date(2024, 7, 2), date(2024, 7, 3)]
    with pytest.raises(ValueError, match="demand model broke on 2024-07-04"):
        next(days)
    assert _staged(staging_root) == []


@pytest.mark.usefixtures("child_from_the_first_day")
def test_a_resumed_window_landed_with_the_child_matches_the_serial_one(
        tmp_path: Path, monkeypatch) -> None:
    # The child starts from a checkpoint's state, not only from the first day.
    for name, threshold in (("serial", 10**9), ("ahead", 2)):
        monkeypatch.setattr(ahead, "MIN_DAYS_IN_CHILD", threshold)
        lake = Lake(str(tmp_path / name))
        ingest(lake, "2024-07-01", "2024-07-02", scale=0.05)
        ingest(lake, "2024-07-03", "2024-07-09", scale=0.05)
    assert tree_digest(tmp_path / "ahead") == tree_digest(tmp_path / "serial")


def test_a_child_that_dies_is_named_with_the_day_it_owed(monkeypatch) -> None:
    monkeypatch.setattr(ahead, "_child_command", lambda: [
        sys.executable, "-c", "import sys; sys.exit(3)"])
    world = build_world(SimulationConfig(seed=7, scale=0.02))
    days = ahead.run_days_ahead(world, initial_state(world), date(2024, 7, 20), min_days=2)
    received = []
    with pytest.raises(ahead.SimulationProcessError,
                       match=r"died \(exit code 3\) before handing over 2024-07-\d\d") as error:
        for batch in days:  # the first days may come from the caller while the child starts
            received.append(batch.day)
    owed = date(2024, 7, 1 + len(received))
    assert f"before handing over {owed.isoformat()}" in str(error.value)


def test_days_before_the_child_is_ready_are_simulated_in_place(monkeypatch,
                                                              staging_root: Path) -> None:
    # A child that takes 3 s to start: the caller simulates the first days itself, the child
    # the rest from the state they reached; together exactly the days of run_days.
    slow_child = ("import sys, time; time.sleep(3); import retailops.simulation.ahead as a; "
                  "sys.exit(a._serve(sys.argv[1]))")
    monkeypatch.setattr(ahead, "_child_command", lambda: [sys.executable, "-c", slow_child])
    world = build_world(SimulationConfig(seed=7, scale=0.02))
    last = date(2024, 9, 30)
    started = time.monotonic()
    in_place = 0
    got = []
    for batch in ahead.run_days_ahead(world, initial_state(world), last, min_days=2):
        if time.monotonic() - started < 2.5:
            in_place += 1
        got.append(batch)
    want = list(run_days(world, initial_state(world), last))
    assert in_place >= 1 and len(got) == len(want) == 92
    for a, b in zip(got, want):
        assert a.day == b.day and a.state.next_day == b.state.next_day
        assert all(a.tables[t].equals(b.tables[t]) for t in b.tables)
        assert a.truth.equals(b.truth) and a.defects.equals(b.defects)
        assert (a.state.on_hand == b.state.on_hand).all()
    assert _staged(staging_root) == []


def test_a_window_over_before_the_child_is_ready_never_waits_for_it(
        monkeypatch, children, staging_root: Path) -> None:
    monkeypatch.setattr(ahead, "_child_command", lambda: [
        sys.executable, "-c",
        "import sys, time; time.sleep(30); import retailops.simulation.ahead as a; "
        "sys.exit(a._serve(sys.argv[1]))"])
    world = build_world(SimulationConfig(seed=7, scale=0.02))
    started = time.monotonic()
    got = [b.day for b in ahead.run_days_ahead(world, initial_state(world), date(2024, 7, 10),
                                               min_days=2)]
    assert got == [date(2024, 7, d) for d in range(1, 11)]
    assert time.monotonic() - started < 25  # the sleeping child was stopped, not awaited
    assert len(children) == 1 and children[0].poll() is not None
    assert _staged(staging_root) == []


def test_a_consumer_that_stops_early_stops_the_child(children) -> None:
    world = build_world(SimulationConfig(seed=7, scale=0.02))
    days = ahead.run_days_ahead(world, initial_state(world), date(2025, 6, 30), min_days=2)
    first = next(days)
    assert first.day == date(2024, 7, 1)
    days.close()
    assert len(children) == 1 and children[0].poll() is not None


def _processes_with(marker: str) -> list[int]:
    """Pids of live processes whose environment holds ``marker`` (the child inherits it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                status = (entry / "status").read_text()
                if "\nState:\tZ" not in status:
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_a_backfill_killed_mid_write_leaves_no_child_and_a_rerun_lands_the_serial_bytes(
        tmp_path: Path) -> None:
    import uuid

    from tests.conftest import conf_with_lake, run_kedro
    from tests.scenarios.conftest import crash_env

    params = "start_date=2024-07-01,end_date=2024-07-12,scale=0.02"
    marker = f"RETAILOPS_TEST_MARK={uuid.uuid4().hex}"
    name, value = marker.split("=")
    lake = tmp_path / "lake"
    conf = conf_with_lake(tmp_path, str(lake))
    # Killed (SIGKILL) in the middle of writing day 6, with the child simulating ahead.
    staging_root = tmp_path / "system-tmp"
    staging_root.mkdir()
    env = {**crash_env(tmp_path / "crash", "raw/sales/dt=2024-07-06"), name: value,
           "TMPDIR": str(staging_root)}
    killed = run_kedro("run", "--conf-source", str(conf), "--pipelines", "ingest",
                       "--params", params, env=env)
    assert killed.returncode == -9, killed.stderr[-2000:]
    deadline = time.monotonic() + 10
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_with(marker) == [], "the child simulating ahead outlived its parent"
    assert _staged(staging_root) == [], "the days staged for the killed run were left"
    rerun = run_kedro("run", "--conf-source", str(conf), "--pipelines", "ingest",
                      "--params", params)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    # The reference: the same window landed serially, in one go, in process.
    reference = tmp_path / "reference"
    serial = Lake(str(reference))
    from retailops.lake.landing import land_day, land_dimensions, land_promotions
    from retailops.pipelines.ingest import nodes

    window = nodes.resolve_window("2024-07-01", "2024-07-12", None)
    seed, sim = 20240701, {"review_period_days": 10}
    recorded = nodes.check_lake_configuration(serial, window, seed, 0.02, sim)
    land_dimensions(serial, nodes.build_dimensions(window, seed, 0.02, sim, recorded))
    land_promotions(serial, nodes.publish_promotions(window, seed, 0.02, sim, False, 1, recorded))
    old = ahead.MIN_DAYS_IN_CHILD
    ahead.MIN_DAYS_IN_CHILD = 10**9
    try:
        for landing in nodes.simulate_window(serial, window, seed, 0.02, sim, False, recorded):
            land_day(serial, landing)
    finally:
        ahead.MIN_DAYS_IN_CHILD = old
    got = {k: v for k, v in tree_digest(lake).items() if k.startswith(("raw/", "metadata/manifests"))}
    want = {k: v for k, v in tree_digest(reference).items()
            if k.startswith(("raw/", "metadata/manifests"))}
    assert sum("raw/sales/dt=" in k for k in want) == 12
    assert got == want
