"""The forecast-driven policy's (R, s, S) structure (``cycle_periods``): its level becomes a
reorder point s, and a cell at or below it is ordered up to s + a cycle quantity (the forecast
over that many review periods plus case packs), as the built-in rules hold cycle stock above
their reorder point. And the oracle bound (``forecaster: oracle``), the one mode that reads the
simulation's true expected demand, marked as such.

Expected values come from outside the code under test: the order quantities from the plain
order-up-to policy's level (the reorder point) and a constant forecast whose cycle quantity is
counted by hand, the oracle's demand from the engine's own expected units per cell and day."""

from __future__ import annotations

import copy
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

import retailops.forecast.truth as truth
from retailops.forecast.replenishment import (
    CoverErrors,
    ForecastOrderUpTo,
    OracleDemand,
    run_closed_loop,
)
from retailops.simulation.engine import simulate_day
from retailops.simulation.policies import builtin_policy
from tests.replenishment.conftest import scrambled_world

DAILY = 2.0   # the constant forecast, units per cell and day


class ConstantForecast:
    """Every cell DAILY units a day, 80% interval DAILY ± 1."""

    min_history_days = 7

    def predict(self, history, origin, horizon, plan, context):
        stores = history["store_id"].cat.categories
        products = history["product_id"].cat.categories
        days = pd.date_range(origin + timedelta(days=1), periods=horizon, freq="D")
        n = len(stores) * len(products) * horizon
        return pd.DataFrame({
            "store_id": np.repeat(stores, len(products) * horizon),
            "product_id": np.tile(np.repeat(products, horizon), len(stores)),
            "target_date": np.tile(days, len(stores) * len(products)),
            "units": np.full(n, DAILY), "units_p10": np.full(n, DAILY - 1),
            "units_p90": np.full(n, DAILY + 1)})


def _errors() -> CoverErrors:
    """Two velocity classes with known standardised cover errors."""
    rng = np.random.default_rng(3)
    return CoverErrors(edges=np.array([10.0]), samples=4000,
                       errors=(np.sort(rng.gamma(2.0, 1.0, 2000) - 1.5),
                               np.sort(rng.normal(0.3, 1.2, 2000))))


def _policy(forecaster, observed, context, **structure):
    return ForecastOrderUpTo(forecaster, observed, context, 0.9, 7, cover_errors=_errors(),
                             allocation="cost", **structure)


class _Checked:
    """Orders by the (R, s, S) policy and, at every review, what they should be: the plain
    order-up-to policy's level on the same state is the reorder point s; a cell at or below it
    orders s + DAILY × R × its cycle periods + case packs − position, rounded up to packs."""

    name = "checked"

    def __init__(self, policy, plain, periods, perishable_periods, packs):
        self.policy, self.plain = policy, plain
        self.periods, self.perishable_periods, self.packs = periods, perishable_periods, packs
        self.orders, self.expected, self.plain_orders = [], [], []

    def order_quantities(self, world, state, day, due):
        cells = np.flatnonzero(due.cell_mask(world))
        reorder_point = self.plain.order_up_to_levels(world, day, cells, state.copy())
        position = (state.on_hand + state.on_order)[cells].astype(float)
        perishable = world.product_perishable[cells % world.n_products]
        pack = world.case_pack[cells]
        cycle = (DAILY * world.config.review_period_days
                 * np.where(perishable, self.perishable_periods, self.periods)
                 + self.packs * pack)
        expected = np.zeros(world.n_cells, dtype=np.int64)
        ordering = position <= reorder_point
        expected[cells[ordering]] = (np.ceil((reorder_point + cycle - position)[ordering]
                                             / pack[ordering]) * pack[ordering])
        self.expected.append(expected)
        self.plain_orders.append(self.plain.order_quantities(world, state.copy(), day, due))
        ordered = self.policy.order_quantities(world, state, day, due)
        self.orders.append(ordered)
        return ordered


def test_a_cell_at_its_reorder_point_is_ordered_up_to_s_plus_the_cycle_in_whole_packs(tiny):
    settings, world, state, observed, context, _ = tiny
    seen = observed.copy()   # both read the same sales: one forecast, the same reorder point
    policy = _policy(ConstantForecast(), seen, context, cycle_periods=1.5,
                     perishable_cycle_periods=0.5, cycle_packs=1)
    checked = _Checked(policy, _policy(ConstantForecast(), seen, context), 1.5, 0.5, 1)
    run_closed_loop(world, state, 21, checked, seen)
    ordered, expected = np.array(checked.orders), np.array(checked.expected)
    assert (ordered > 0).sum() > 100
    np.testing.assert_array_equal(ordered, expected)
    case_pack = np.tile(world.case_pack, (len(checked.orders), 1))
    assert (ordered % case_pack == 0).all() and (ordered >= 0).all()
    # The cycle quantity makes orders larger and rarer than the plain policy's on the same
    # states.
    plain = np.array(checked.plain_orders)
    assert ordered[ordered > 0].mean() > plain[plain > 0].mean()



class _Twins:
    """Orders by ``policy`` on the real world; at every review also asks ``twin`` on the
    scrambled world with the same state (and the same observed sales)."""

    name = "twins"

    def __init__(self, policy, twin, scrambled):
        self.policy, self.twin, self.scrambled = policy, twin, scrambled
        self.orders, self.twin_orders = [], []

    def order_quantities(self, world, state, day, due):
        ordered = self.policy.order_quantities(world, state, day, due)
        self.orders.append(ordered)
        self.twin_orders.append(self.twin.order_quantities(self.scrambled, state.copy(), day,
                                                           due))
        return ordered


def _twin_orders(tiny, forecaster):
    settings, world, state, observed, context, _ = tiny
    seen = observed.copy()
    structure = dict(cycle_periods=1.2, perishable_cycle_periods=0.4, cycle_packs=1)
    twins = _Twins(_policy(forecaster, seen, context, **structure),
                   _policy(copy.deepcopy(forecaster), seen, context, **structure),
                   scrambled_world(world))
    run_closed_loop(world, state, 21, twins, seen)
    return np.array(twins.orders), np.array(twins.twin_orders)


def test_it_orders_from_what_the_chain_observed_not_the_simulations_parameters(tiny,
                                                                               monkeypatch):
    # The truth files are out of reach, and scrambling the simulation's demand parameters
    # changes no order: the policy reads the sales, the published plan and the suppliers.
    def no_truth(*args, **kwargs):
        raise AssertionError("the forecast-driven policy read the truth files")

    for name in ("read_truth", "oracle_forecast", "compound_poisson_quantiles"):
        monkeypatch.setattr(truth, name, no_truth)
    orders, twin_orders = _twin_orders(tiny, tiny[-1])   # the study's fitted forecaster
    assert (orders > 0).sum() > 100
    np.testing.assert_array_equal(orders, twin_orders)


def test_the_oracle_mode_alone_reads_the_worlds_true_demand(tiny):
    # Marked: the bound is the one mode that reads the world's true parameters, and the same
    # twin check sees it (scrambled parameters, other orders).
    assert OracleDemand.reads_the_worlds_true_parameters
    orders, twin_orders = _twin_orders(tiny, OracleDemand())
    assert (orders != twin_orders).any()


def test_the_oracle_is_the_engines_expected_demand(tiny):
    settings, world, state, *_ = tiny
    days = 10
    oracle, _ = OracleDemand().cover_matrices(world, state.next_day - timedelta(days=1), days)
    for k in range(days):
        activity, state = simulate_day(world, state)
        np.testing.assert_allclose(oracle[:, k], activity.expected_units, rtol=1e-6)


def test_the_closed_loop_replays_identical_demand_under_the_reorder_point_structure(tiny_lean):
    settings, world, state, observed, context, forecaster = tiny_lean
    days = settings.study_weeks * 7
    builtin = run_closed_loop(world, state, days, builtin_policy(world), keep_cells=True)
    policy = _policy(forecaster, observed.copy(), context, cycle_periods=1.2,
                     perishable_cycle_periods=0.4)
    driven = run_closed_loop(world, state, days, policy, policy.observed, keep_cells=True)
    np.testing.assert_array_equal(driven.cell_demanded, builtin.cell_demanded)
    assert (driven.cell_sold != builtin.cell_sold).sum() > 100
    assert (driven.cell_sold <= driven.cell_demanded).all()


@pytest.mark.parametrize("structure", [dict(cycle_periods=-0.5), dict(cycle_periods=1.0,
                                                                     cycle_packs=-1)])
def test_a_negative_cycle_is_refused(tiny, structure):
    settings, world, state, observed, context, forecaster = tiny
    with pytest.raises(ValueError, match="must be >= 0"):
        _policy(forecaster, observed.copy(), context, **structure)


def test_the_structure_and_the_oracle_are_study_parameters_and_bad_values_one_line():
    from retailops.errors import InvalidParameterError
    from retailops.forecast.replenishment import forecaster_for, settings_from_params

    settings = settings_from_params({"cycle_periods": 1.2, "perishable_cycle_periods": 0.4,
                                     "forecaster": "oracle"}, 1, 0.02, None)
    assert (settings.cycle_periods, settings.perishable_cycle_periods) == (1.2, 0.4)
    assert isinstance(forecaster_for(settings), OracleDemand)
    # The default study keeps the plain order-up-to policy.
    assert settings_from_params({}, 1, 0.02, None).cycle_periods is None
    for bad in ({"cycle_periods": -1}, {"cycle_periods": "many"}, {"cycle_packs": None}):
        with pytest.raises(InvalidParameterError, match=f"replenishment_study.{next(iter(bad))}"):
            settings_from_params(bad, 1, 0.02, None)
