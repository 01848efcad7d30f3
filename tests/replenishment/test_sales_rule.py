"""The opt-in built-in rule whose levels come from the sales the chain observed
(``simulation.builtin_policy: periodic_review_from_sales``): it reads only what a store system
sees, orders whole case packs, replays the same demand, resumes exactly and is fingerprinted."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from retailops.errors import InvalidParameterError
from retailops.forecast.replenishment import run_closed_loop
from retailops.simulation import SimulationConfig, build_world, initial_state
from retailops.simulation.engine import simulate_day
from retailops.simulation.policies import (
    PERIODIC_REVIEW,
    PeriodicReviewFromSales,
    builtin_policy,
)
from tests.replenishment.conftest import scrambled_world

FROM_SALES = "periodic_review_from_sales"
CHAIN = SimulationConfig(seed=7, scale=0.05, builtin_policy=FROM_SALES)


def test_the_rule_is_selectable_and_in_the_fingerprint():
    default = SimulationConfig(seed=7, scale=0.05)
    old = dataclasses.replace(default, builtin_policy="periodic_review_before_issue_15")
    assert len({default.fingerprint(), old.fingerprint(), CHAIN.fingerprint()}) == 3
    assert SimulationConfig.from_params({"seed": 7, "scale": 0.05,
                                         "builtin_policy": FROM_SALES}) == CHAIN
    world = build_world(CHAIN)
    rule = builtin_policy(world)
    assert isinstance(rule, PeriodicReviewFromSales) and rule.name == FROM_SALES
    assert builtin_policy(world) is rule                       # one memory per world
    assert builtin_policy(build_world(CHAIN)) is not rule
    with pytest.raises(InvalidParameterError, match="periodic_review_from_sales"):
        SimulationConfig(builtin_policy="from_sales")



class _Twins:
    """Orders by ``rule`` on the real world; at every review also asks ``twin`` (primed with
    the same observed days) on the scrambled world, with the same state, and keeps both."""

    name = "twins"

    def __init__(self, rule, twin, scrambled, control=None):
        self.rule, self.twin, self.scrambled, self.control = rule, twin, scrambled, control
        self.orders, self.twin_orders, self.control_orders = [], [], []

    def order_quantities(self, world, state, day, due):
        ordered = self.rule.order_quantities(world, state, day, due)
        self.orders.append(ordered.copy())
        self.twin_orders.append(self.twin.order_quantities(self.scrambled, state.copy(), day,
                                                           due))
        if self.control is not None:
            self.control_orders.append(
                (self.control.order_quantities(world, state.copy(), day, due),
                 self.control.order_quantities(self.scrambled, state.copy(), day, due)))
        return ordered


@pytest.fixture(scope="module")
def primed():
    """A chain landed under the default rule for four weeks, observed day by day by two fresh
    rules: one on the world, one on its scrambled twin."""
    world = build_world(SimulationConfig(seed=7, scale=0.05))
    scrambled = scrambled_world(world)
    rule, twin = PeriodicReviewFromSales(), PeriodicReviewFromSales()
    state = initial_state(world)
    for _ in range(28):
        activity, state = simulate_day(world, state)
        rule.observe(world, activity.sold_units, state)
        twin.observe(scrambled, activity.sold_units, state)
    return world, scrambled, rule, twin, state


def test_it_orders_the_same_when_the_simulations_parameters_are_scrambled(primed):
    world, scrambled, rule, twin, state = primed
    twins = _Twins(copy.deepcopy(rule), copy.deepcopy(twin), scrambled, control=PERIODIC_REVIEW)
    trace = run_closed_loop(world, state, 21, twins)
    assert trace.order_lines.sum() > 100
    for ordered, twin_ordered in zip(twins.orders, twins.twin_orders):
        np.testing.assert_array_equal(ordered, twin_ordered)
    # The check can fail: the rule of issue 15 reads those parameters, and orders otherwise.
    assert any((a != b).any() for a, b in twins.control_orders)


def test_its_orders_are_whole_case_packs_and_it_reads_the_days_sales(primed):
    world, _, rule, _, state = primed
    orders = []

    class Recorder(PeriodicReviewFromSales):
        def order_quantities(self, world, state, day, due):
            ordered = super().order_quantities(world, state, day, due)
            orders.append(ordered)
            return ordered

    recorder = Recorder()
    recorder.__dict__.update(copy.deepcopy(rule).__dict__)
    sold = []
    for _ in range(14):
        activity, state = simulate_day(world, state, recorder)
        sold.append(activity.sold_units)
        np.testing.assert_array_equal(   # the sales it read from the state, per cell
            recorder.memory(world).sales[recorder.memory(world).slot(activity.day)],
            activity.sold_units)
    ordered = np.concatenate(orders)
    case_pack = np.tile(world.case_pack, len(orders))
    assert (ordered > 0).sum() > 50
    assert (ordered % case_pack == 0).all() and (ordered >= 0).all()


def test_it_replays_the_same_demand():
    world = build_world(SimulationConfig(seed=7, scale=0.05))
    state = initial_state(world)
    rule = PeriodicReviewFromSales()
    own = run_closed_loop(world, state, 28, PERIODIC_REVIEW, keep_cells=True)
    # A rule that has observed nothing yet holds a case pack per cell at first: other orders,
    # the same shoppers.
    rule.start_from(world, state)
    from_sales = run_closed_loop(world, state, 28, rule, keep_cells=True)
    np.testing.assert_array_equal(own.cell_demanded, from_sales.cell_demanded)
    assert (own.cell_sold != from_sales.cell_sold).any()


def test_a_chain_under_the_rule_resumes_exactly_from_a_saved_state():
    """Day by day equals range: a new process (a new world object, so a rule with no memory)
    resuming from the state saved after day 6 replays the chain under the rule and orders
    exactly as the unbroken run."""
    world = build_world(CHAIN)
    state = initial_state(world)
    states = [state]
    for _ in range(10):
        _, state = simulate_day(world, state)
        states.append(state)
    fresh = build_world(CHAIN)
    resumed = states[6].copy()
    for day in range(6, 10):
        activity, resumed = simulate_day(fresh, resumed)
        np.testing.assert_array_equal(resumed.on_order, states[day + 1].on_order)
        np.testing.assert_array_equal(resumed.on_hand, states[day + 1].on_hand)
        for key, values in states[day + 1].pending.items():
            np.testing.assert_array_equal(resumed.pending[key], values)
    assert activity.orders_placed > 0


def test_an_unprimed_rule_on_another_chain_says_what_it_lacks():
    world = build_world(SimulationConfig(seed=7, scale=0.05))
    state = initial_state(world)
    with pytest.raises(ValueError, match="has not observed the days before 2024-07-01"):
        simulate_day(world, state, PeriodicReviewFromSales())


def test_the_lift_it_measures_is_near_the_true_one():
    """The promotion lift per discount, measured from sales, against the simulation's true
    units lift of the products promoted at that discount (read here only)."""
    from retailops.simulation.demand import PROMOTION_DISCOUNTS, promotion_units_lift, promotions

    world = build_world(SimulationConfig(seed=7, scale=0.2))
    rule = PeriodicReviewFromSales()
    state = initial_state(world)
    true_lift = {i: [] for i in range(PROMOTION_DISCOUNTS.size)}
    for _ in range(84):
        activity, state = simulate_day(world, state)
        rule.observe(world, activity.sold_units, state)
        discount = promotions(world, activity.day)
        lift = promotion_units_lift(world, discount)
        for i, depth in enumerate(PROMOTION_DISCOUNTS):
            true_lift[i].extend(lift[np.isclose(discount, depth)])
    memory = rule.memory(world)
    measured = memory.promoted_units.sum(axis=0) / memory.usual_units.sum(axis=0)
    expected = np.array([np.mean(true_lift[i]) for i in range(PROMOTION_DISCOUNTS.size)])
    assert np.all(expected > 1.1)
    np.testing.assert_allclose(measured, expected, rtol=0.25)


def test_days_that_end_with_an_empty_shelf_do_not_set_the_rate():
    """A day ending at zero on hand may have turned shoppers away: the rate and variance come
    from the other days once there are enough of them; with too few, the rate is the larger of
    the uncensored mean and the mean of every day (a lower bound), and the variance the rate."""
    from datetime import timedelta

    from retailops.simulation.config import FIRST_DAY
    from retailops.simulation.demand import promotions
    from retailops.simulation.policies import _SalesMemory

    world = build_world(SimulationConfig(seed=7, scale=0.02))
    days = [FIRST_DAY + timedelta(days=i) for i in range(14)]
    unpromoted = np.flatnonzero(~np.any([promotions(world, d) > 0 for d in days], axis=0))
    product = int(unpromoted[0])
    steady, censored = product, world.n_products + product    # store 0 and store 1
    memory = _SalesMemory(world, weeks=2)
    pattern_sold = [2, 4, 6, 8, 10, 0, 3]
    pattern_end = [5, 0, 5, 0, 5, 5, 5]       # days 2 and 4 of each week empty the shelf
    for i, day in enumerate(days):
        sold = np.zeros(world.n_cells)
        on_hand = np.full(world.n_cells, 9)
        sold[steady], on_hand[steady] = pattern_sold[i % 7], pattern_end[i % 7]
        sold[censored], on_hand[censored] = 3, (0 if i % 7 else 1)   # one uncensored day a week
        memory.record(world, day, sold, on_hand)
    rate, variance, reliable = memory.levels()
    kept = [2, 6, 10, 0, 3] * 2
    assert reliable[steady] and rate[steady] == pytest.approx(np.mean(kept))
    assert variance[steady] == pytest.approx(np.var(kept, ddof=1))
    assert not reliable[censored]
    assert rate[censored] == pytest.approx(3.0) and variance[censored] == pytest.approx(3.0)
