"""A local lake keeps the chain's world (issue 13: a scale-16 daily run drew its 1.15M cells
again each day, ~0.17 s of CPU): the world read back is the drawn world, field for field, the
days landed from it are the same bytes, and a kept file that belongs to another configuration,
generator, numpy or simulation code, or that is damaged, is never used."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest

from retailops.lake import world_store
from retailops.lake.landing import land_day, land_dimensions, land_promotions
from retailops.lake.storage import Lake
from retailops.pipelines.ingest import nodes
from retailops.simulation import SimulationConfig, build_world, shared_world
from retailops.simulation import world as world_module
from tests.ingest.helpers import ingest, tree_digest

CONFIG = SimulationConfig(seed=7, scale=0.05, review_period_days=10)


@pytest.fixture(autouse=True)
def _fresh_process():
    shared_world.cache_clear()
    yield
    shared_world.cache_clear()


def _same_world(a, b) -> None:
    for item in fields(a):
        x, y = getattr(a, item.name), getattr(b, item.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), item.name
        else:
            assert x == y, item.name


def _counting_builds(monkeypatch) -> list:
    calls = []
    real = world_module.build_world

    def counting(config):
        calls.append(config)
        return real(config)

    monkeypatch.setattr(world_module, "build_world", counting)
    return calls


def test_the_world_read_back_is_the_drawn_world(tmp_path, monkeypatch):
    lake = Lake(str(tmp_path / "lake"))
    calls = _counting_builds(monkeypatch)
    drawn = world_store.lake_world(lake, CONFIG)
    assert len(calls) == 1 and lake.exists(world_store.world_file(world_store.world_key(CONFIG)))
    shared_world.cache_clear()  # a new process
    kept = world_store.lake_world(lake, CONFIG)
    assert len(calls) == 1, "the kept world was drawn again"
    _same_world(kept, build_world(CONFIG))
    _same_world(kept, drawn)
    with pytest.raises(ValueError):
        kept.base_lines_per_day[0] = 1.0  # shared: read-only, like a drawn one


def test_days_landed_from_the_kept_world_keep_their_bytes(tmp_path):
    reference = tmp_path / "reference"
    ingest(Lake(str(reference)), "2024-07-01", "2024-07-03", scale=0.05, seed=7)
    root = tmp_path / "lake"
    lake = Lake(str(root))
    sim = {"review_period_days": 10}
    for first, last in (("2024-07-01", "2024-07-01"), ("2024-07-02", "2024-07-03")):
        shared_world.cache_clear()  # each run a new process: the second reads the kept world
        window = nodes.resolve_window(first, last, None)
        recorded = nodes.check_lake_configuration(lake, window, 7, 0.05, sim)
        land_dimensions(lake, nodes.build_dimensions(window, 7, 0.05, sim, recorded, lake))
        land_promotions(lake, nodes.publish_promotions(window, 7, 0.05, sim, False, 1, recorded))
        for landing in nodes.simulate_window(lake, window, 7, 0.05, sim, False, recorded):
            land_day(lake, landing)
    got = {k: v for k, v in tree_digest(root).items() if not k.startswith("metadata/world/")}
    assert got == tree_digest(reference)


@pytest.mark.parametrize("change", [
    lambda monkeypatch: monkeypatch.setattr(world_store, "GENERATOR_VERSION", "retailops-sim/9"),
    lambda monkeypatch: monkeypatch.setattr(np, "__version__", "0.0.1"),
    lambda monkeypatch: monkeypatch.setattr(world_store, "_simulation_source_digest",
                                            lambda: "other simulation code"),
], ids=["generator", "numpy", "simulation-code"])
def test_a_world_kept_under_other_code_is_not_used(tmp_path, monkeypatch, change):
    lake = Lake(str(tmp_path / "lake"))
    world_store.lake_world(lake, CONFIG)
    shared_world.cache_clear()
    before = world_store.world_key(CONFIG)
    change(monkeypatch)
    assert world_store.world_key(CONFIG) != before
    calls = _counting_builds(monkeypatch)
    world_store.lake_world(lake, CONFIG)
    assert len(calls) == 1


def test_every_setting_names_its_own_kept_world():
    keys = {world_store.world_key(c) for c in (
        CONFIG, replace(CONFIG, seed=8), replace(CONFIG, scale=0.06),
        replace(CONFIG, review_period_days=7), replace(CONFIG, safety_factor=1.0))}
    assert len(keys) == 5


@pytest.mark.parametrize("damage", ["flip", "truncate", "other-key"])
def test_a_damaged_kept_world_is_drawn_again_with_a_warning(tmp_path, monkeypatch, caplog, damage):
    lake = Lake(str(tmp_path / "lake"))
    world_store.lake_world(lake, CONFIG)
    path = lake.url(world_store.world_file(world_store.world_key(CONFIG)))
    data = bytearray(open(path, "rb").read())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01  # inside the cells' arrays: only the CRC tells
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:  # a file copied from another configuration's key
        other = replace(CONFIG, seed=8)
        world_store.save_world(lake, build_world(other))
        data = bytearray(open(lake.url(world_store.world_file(world_store.world_key(other))),
                              "rb").read())
    open(path, "wb").write(bytes(data))
    shared_world.cache_clear()
    calls = _counting_builds(monkeypatch)
    world = world_store.lake_world(lake, CONFIG)
    assert len(calls) == 1 and "Not using the kept world" in caplog.text
    _same_world(world, build_world(CONFIG))


def test_an_s3_lake_draws_the_world(monkeypatch):
    class S3Lake:
        is_s3 = True

    calls = _counting_builds(monkeypatch)
    world_store.lake_world(S3Lake(), CONFIG)
    assert len(calls) == 1
