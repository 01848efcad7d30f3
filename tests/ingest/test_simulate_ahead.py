"""Simulating ahead in a child process (``retailops.simulation.ahead``) changes how a backfill
is computed, never what lands: the raw zone of a window landed with the child is byte for byte
the one landed serially, and a child that dies or is abandoned is named or stopped."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from retailops.lake.storage import Lake
from retailops.simulation import SimulationConfig, ahead, build_world, initial_state
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


def test_a_window_landed_with_the_child_is_byte_identical_to_a_serial_one(
        tmp_path: Path, monkeypatch, children) -> None:
    monkeypatch.setattr(ahead, "MIN_DAYS_IN_CHILD", 10**9)
    ingest(Lake(str(tmp_path / "serial")), "2024-07-01", "2024-07-12", scale=0.05)
    assert children == []
    monkeypatch.setattr(ahead, "MIN_DAYS_IN_CHILD", 2)
    ingest(Lake(str(tmp_path / "ahead")), "2024-07-01", "2024-07-12", scale=0.05)
    assert len(children) == 1 and children[0].returncode == 0
    serial, parallel = tree_digest(tmp_path / "serial"), tree_digest(tmp_path / "ahead")
    assert sum("raw/sales/dt=" in p for p in serial) == 12
    assert parallel == serial


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
        sys.executable, "-c", "import sys; sys.stdin.buffer.read(); sys.exit(3)"])
    world = build_world(SimulationConfig(seed=7, scale=0.02))
    days = ahead.run_days_ahead(world, initial_state(world), date(2024, 7, 20), min_days=2)
    with pytest.raises(ahead.SimulationProcessError,
                       match=r"died \(exit code 3\) before handing over 2024-07-01"):
        next(days)


def test_a_consumer_that_stops_early_stops_the_child(children) -> None:
    world = build_world(SimulationConfig(seed=7, scale=0.02))
    days = ahead.run_days_ahead(world, initial_state(world), date(2025, 6, 30), min_days=2)
    first = next(days)
    assert first.day == date(2024, 7, 1)
    days.close()
    assert len(children) == 1 and children[0].poll() is not None
