"""A daily run builds the simulated world once (issue 13): the dimensions, the Monday's promotion
plan and the day all read the one world ``shared_world`` keeps per configuration, and nobody can
write into it."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from retailops.simulation import DefectRates, SimulationConfig, build_world, shared_world
from tests.conftest import PROJECT_ROOT
from tests.platform_fixture import make_project

# A new process that counts build_world's calls, then runs the kedro command line it is given.
COUNTING_KEDRO = """
import atexit, json, sys
import retailops.simulation.world as world_module

calls = []
original = world_module.build_world


def counting(config):
    calls.append(config.fingerprint())
    return original(config)


world_module.build_world = counting
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(calls)))
sys.argv = ["kedro", *sys.argv[2:]]
from kedro.framework.cli import main
main()
"""


def test_a_daily_run_on_a_publication_day_builds_the_world_once(tmp_path):
    project = tmp_path / "project"
    conf, lake = make_project(project)
    calls_file = tmp_path / "build_world_calls.json"
    # 2024-07-01 is a Monday: the day publishes its week's promotion plan.
    run = subprocess.run(
        [sys.executable, "-c", COUNTING_KEDRO, str(calls_file), "run", "--conf-source",
         str(conf), "--pipelines", "daily", "--params", "run_date=2024-07-01,scale=0.01"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
        env={**__import__("os").environ, "KEDRO_DISABLE_TELEMETRY": "1"})
    log = run.stderr + run.stdout
    assert run.returncode == 0, log[-4000:]
    for node in ("land_dimensions", "publish_promotion_plans", "simulate_and_land_days"):
        assert f"Running node: {node}" in log, node
    assert (lake / "raw" / "promotions").is_dir() and any((lake / "raw" / "promotions").iterdir())
    assert (lake / "raw" / "sales" / "dt=2024-07-01").is_dir()
    calls = json.loads(calls_file.read_text())
    assert len(calls) == 1, calls


BASE = SimulationConfig(seed=11, scale=0.02)


@pytest.mark.parametrize("change", [
    {"seed": 12}, {"scale": 0.03}, {"review_period_days": 7}, {"safety_factor": 1.0},
    {"builtin_policy": "periodic_review_before_issue_15"},
    {"defect_rates": DefectRates(null_discount=0.5)},
])
def test_every_setting_of_the_configuration_keys_its_own_world(change):
    shared_world.cache_clear()
    base = shared_world(BASE)
    other_config = dataclasses.replace(BASE, **change)
    other = shared_world(other_config)
    assert other is not base and other.config == other_config
    assert shared_world(BASE) is base  # still kept, not rebuilt
    # What the shared world holds is what a fresh build draws.
    fresh = build_world(other_config)
    for item in dataclasses.fields(fresh):
        if isinstance(getattr(fresh, item.name), np.ndarray):
            np.testing.assert_array_equal(getattr(other, item.name), getattr(fresh, item.name))


def test_a_number_written_another_way_is_another_world():
    """2 and 2.0 compare equal but the lake's fingerprint tells them apart; so does the cache."""
    shared_world.cache_clear()
    as_float = shared_world(dataclasses.replace(BASE, safety_factor=2.0))
    as_int = shared_world(dataclasses.replace(BASE, safety_factor=2))
    assert as_int is not as_float
    assert as_int.config.fingerprint() != as_float.config.fingerprint()


def test_the_shared_world_refuses_writes():
    world = shared_world(BASE)
    with pytest.raises(ValueError, match="read-only"):
        world.reorder_point[0] = 0
    with pytest.raises(ValueError, match="read-only"):
        world.base_lines_per_day *= 2
    assert build_world(BASE).reorder_point.flags.writeable  # a fresh build is the caller's own
