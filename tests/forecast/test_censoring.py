"""Stock-out censoring, on a lean simulated chain whose shelves empty often: the rule sees only
sales and counts (what the marts hold); the simulation's true demand is read here, in the test,
to score it.

The chain's own ordering keeps it well stocked (about 0.4% of demand lost, docs/realism.md), too
little censoring to measure a correction against. The lean world is asked for explicitly: the
built-in rule before issue 15 (reorder point covering lead time + 1 day, no promotion plan,
``simulation.builtin_policy``) with a 28-day review period."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from retailops.forecast import frames as F
from retailops.forecast.censoring import CensoringRule, censored_matrix, mark_censoring
from retailops.forecast.models import forecasters
from retailops.forecast.replenishment import ObservedSales, context_for_world
from retailops.simulation.config import FIRST_DAY, SimulationConfig
from retailops.simulation.engine import initial_state, simulate_day
from retailops.simulation.world import build_world

DAYS = 70
ORIGIN_DAY = 55


LEAN = SimulationConfig(seed=11, scale=0.05, review_period_days=28,
                        builtin_policy="periodic_review_before_issue_15")


def _simulate(config: SimulationConfig):
    """Ten weeks of the chain under its own built-in policy, with the truth."""
    world = build_world(config)
    state = initial_state(world)
    observed = ObservedSales(world, FIRST_DAY, DAYS)
    demanded, expected = [], []
    for _ in range(DAYS):
        activity, state = simulate_day(world, state)
        observed.record(activity)
        demanded.append(activity.demanded_units)
        expected.append(activity.expected_units)
    history = observed.frame(FIRST_DAY + timedelta(days=DAYS - 1))
    # truth, in the history's order (store-major cells, then days)
    history["demanded"] = np.asarray(demanded, dtype=float).T.ravel()
    history["expected"] = np.asarray(expected, dtype=float).T.ravel()
    return {"world": world, "history": history, "context": context_for_world(world)}


@pytest.fixture(scope="module")
def chain():
    """The lean world: stock-outs are frequent."""
    return _simulate(LEAN)


def test_the_lean_world_loses_a_tenth_of_its_demand_to_stock_outs(chain):
    history = chain["history"]
    assert history["units"].sum() / history["demanded"].sum() - 1 < -0.10


def test_the_default_ordering_loses_far_less_of_the_same_demand():
    """The same chain and review period under the chain's default ordering (the rule of issue
    15 at its default safety factor): the lean world is a setting, not the simulation's
    default."""
    default = replace(LEAN, builtin_policy=SimulationConfig.builtin_policy)
    assert default.builtin_policy == "periodic_review"
    history = _simulate(default)["history"]
    assert history["units"].sum() / history["demanded"].sum() - 1 > -0.02


def test_imputed_sales_come_close_to_the_true_demand(chain):
    marked = mark_censoring(chain["history"].drop(columns=["demanded", "expected"]))
    demand = chain["history"]["demanded"].sum()
    observed_bias = chain["history"]["units"].sum() / demand - 1
    imputed_bias = marked["units_filled"].sum() / demand - 1
    assert abs(imputed_bias) < abs(observed_bias) / 3
    # the flagged days are where the demand went missing: most lost units are on them
    lost = chain["history"]["demanded"] - chain["history"]["units"]
    assert lost[marked[F.CENSORED].to_numpy()].sum() > 0.7 * lost.sum()


@pytest.mark.parametrize("model", ["seasonal_naive", "intermittent"])
def test_censoring_handling_reduces_the_forecast_bias_against_true_demand(chain, model):
    history = chain["history"]
    observed = history.drop(columns=["demanded", "expected"])
    origin = FIRST_DAY + timedelta(days=ORIGIN_DAY)
    # Blind: every observed zero taken at face value (nothing censored, nothing imputed).
    blind = observed.assign(censored=False, units_filled=observed["units"])
    truth = history[(history["date"] > pd.Timestamp(origin))
                    & (history["date"] <= pd.Timestamp(origin + timedelta(days=14)))]
    truth = truth.rename(columns={"date": "target_date"}).astype(
        {"store_id": str, "product_id": str})[["store_id", "product_id", "target_date",
                                               "expected"]]
    bias = {}
    for name, frame in (("handled", observed), ("blind", blind)):
        forecaster = forecasters({"models": [model]})[model]
        past = frame[frame["date"] <= pd.Timestamp(origin)]
        forecaster.fit(past, None, chain["context"])
        predicted = forecaster.predict(past, origin, 14, None, chain["context"])
        joined = predicted.merge(truth, on=["store_id", "product_id", "target_date"])
        assert len(joined) == len(predicted)
        bias[name] = joined["units"].sum() / joined["expected"].sum() - 1
    assert bias["blind"] < -0.05
    assert abs(bias["handled"]) < abs(bias["blind"]) / 2


def test_the_rule_flags_sales_that_stop_and_counts_at_zero_only():
    days = 42
    steady = np.tile([3.0, 4.0, 2.0, 5.0, 3.0, 4.0, 3.0], 6)
    stops = steady.copy()
    stops[30:35] = 0                      # a steady seller's sales stop for five days
    slow = np.zeros(days)
    slow[::9] = 1                         # a slow seller: long zero runs are ordinary
    counted = steady.copy()
    counted[20:22] = 0                    # two zero days, and the count found the shelf empty
    units = np.vstack([steady, stops, slow, counted])
    on_hand = np.full_like(units, np.nan)
    on_hand[3, 21] = 0
    on_hand[2, 20] = 0 + 4                # a count with stock: nothing to flag
    censored = censored_matrix(units, on_hand, np.zeros(days, dtype=bool), CensoringRule())
    assert not censored[0].any()
    assert np.flatnonzero(censored[1]).tolist() == [29, 30, 31, 32, 33, 34]  # the eve too
    assert not censored[2].any()
    assert np.flatnonzero(censored[3]).tolist() == [19, 20, 21]
