"""Every scale and seed the configuration accepts builds a chain and simulates its days.

The accepted range is scale 0.001..50 and any non-negative integer seed. Store names come from
a grid of 6 cities x 12 districts per region, so a region with more than 72 stores once hung the
naming loop (always at scale 50); shipment ids were YYYYMMDD*10000 + n, so a day with more than
9,999 orders (review_period_days=1 at large scale) took the next day's ids.
"""

from __future__ import annotations

import csv
import hashlib
import signal
from contextlib import contextmanager
from datetime import date

import numpy as np
import pytest

from retailops.lake.storage import Lake
from retailops.simulation import SimulationConfig, build_world, initial_state
from retailops.simulation.engine import simulate_day

from .helpers import ingest


@contextmanager
def deadline(seconds: int):
    """Fail instead of hanging forever (the naming loop used to spin without end). Counted in
    this process's CPU seconds, not wall time: a loop that spins burns CPU, while a loaded
    machine (other test runs on the two shared cores) only stretches the wall clock; the
    burn-in before the first day made the wall time of the scale-50 fixture exceed 120 s at a
    load of ~20 while its CPU time stays near 45 s."""
    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} CPU seconds")

    previous = signal.signal(signal.SIGPROF, expired)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


@pytest.fixture(scope="module")
def largest():
    """Scale 50 with a review every day: the world and its first day (the costly part, once)."""
    with deadline(120):
        world = build_world(SimulationConfig(seed=11, scale=50, review_period_days=1))
        activity, state = simulate_day(world, initial_state(world))
    return world, activity, state


def _check_store_names(world):
    names = world.store_name.tolist()
    assert len(names) == world.n_stores == round(60 * 50**0.5)
    assert len(set(names)) == len(names)
    # a name still says where the store is: it starts with the store's own city
    assert all(name.startswith(city + " ") for name, city in zip(names, world.store_city))
    # 424 stores in 5 regions cannot fit the 72-name grid of a region
    per_region = {r: int((world.store_region == r).sum()) for r in set(world.store_region)}
    assert max(per_region.values()) > 72


@pytest.mark.parametrize("seed", [0])
def test_store_names_stay_unique_at_the_largest_scale(seed):
    with deadline(60):
        world = build_world(SimulationConfig(seed=seed, scale=50))
    _check_store_names(world)
    # and deterministic: the same configuration names every store the same way again
    again = build_world(SimulationConfig(seed=seed, scale=50))
    assert again.store_name.tolist() == world.store_name.tolist()


def test_store_names_at_default_scale_are_unchanged():
    """Pinned from the generator before the naming fix: the default chain keeps its names."""
    world = build_world(SimulationConfig())
    assert world.store_name[:4].tolist() == [
        "Columbus West", "Houston Downtown", "Austin South", "Austin Market"]
    digest = hashlib.sha256("|".join(world.store_name).encode()).hexdigest()
    assert digest == "65c93f12a6322ccab637b3284ffc775a7d9d4beea91e82bbf2efa9395d24f030"


def test_shipment_ids_keep_their_day_with_more_than_9999_orders_a_day(largest):
    """scale 50, review every day: one day orders from ~17,000 (store, supplier) pairs."""
    world, activity, state = largest
    _check_store_names(world)
    assert activity.orders_placed > 9_999  # the extreme this test is about
    # the day's own orders (orders of the burn-in before 2024-07-01 are pending too)
    today = state.pending["order_day"] == 0
    pending = {k: v[today] for k, v in state.pending.items()}
    ids = pending["shipment_id"]
    # every id names its order day in its leading digits (YYYYMMDD...), so no id of
    # 2024-07-01 can be one of 2024-07-02
    assert {str(i)[:8] for i in np.unique(ids)} == {"20240701"}
    # one delivery per (store, supplier) pair, and one id per delivery
    pairs = pending["store"].astype(np.int64) * 1_000 + pending["supplier"]
    unique_ids, line_of = np.unique(ids, return_inverse=True)
    pair_of_id = np.zeros(unique_ids.size, dtype=np.int64)
    pair_of_id[line_of] = pairs
    assert (pair_of_id[line_of] == pairs).all()  # an id never spans two pairs
    assert unique_ids.size == np.unique(pairs).size == activity.orders_placed
    # a day's ids are consecutive from its block's first id
    assert (np.diff(unique_ids) == 1).all()


def test_shipment_ids_at_default_review_keep_the_documented_format():
    """YYYYMMDD * 10000 + 1..n at configurations that can never exceed 9,999 orders a day."""
    world = build_world(SimulationConfig(seed=20240701, scale=0.05))
    state = initial_state(world)
    seen = []
    for _ in range(12):
        day = state.next_day
        activity, state = simulate_day(world, state)
        ids = np.unique(state.pending["shipment_id"])
        today = ids[(ids // 10_000) == int(day.strftime("%Y%m%d"))]
        assert today.tolist() == [int(day.strftime("%Y%m%d")) * 10_000 + n
                                  for n in range(1, activity.orders_placed + 1)]
        seen.append(activity.orders_placed)
    assert sum(seen) > 0


@pytest.mark.parametrize("seed", [0, 3, 2**70])
def test_the_smallest_scale_lands_days_for_any_seed(tmp_path, seed):
    with deadline(60):
        reports = ingest(Lake(str(tmp_path)), "2024-07-01", "2024-07-07", scale=0.001, seed=seed,
                         simulation={"review_period_days": 1})
    assert len(reports) == 7
    for dt in ("2024-07-01", "2024-07-07"):
        with open(tmp_path / f"raw/sales/dt={dt}/sales.csv", newline="") as f:
            sales = list(csv.reader(f))
        assert sales[0][:3] == ["sale_id", "sold_at", "store_id"]
        assert len(sales) > 1
    assert len(list((tmp_path / "raw/shipments").iterdir())) > 0


def test_the_largest_scale_simulates_a_day_with_the_contracts_volume(largest):
    _, activity, state = largest
    assert state.next_day == date(2024, 7, 2)
    # ~50,000 sale lines a day at scale 1 grow linearly with scale (a Monday, early July)
    assert 1_500_000 <= activity.sale_seconds.size <= 3_500_000
    assert (state.on_hand >= 0).all()
    # sale ids are YYYYMMDD * 10,000,000 + n: even the busiest day at this scale stays below
    assert activity.sale_seconds.size * 1.7 * 1.32 * 1.2 < 10_000_000
