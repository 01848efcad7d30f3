"""The forecast-driven policy orders from the promotion plan as published by then: the Monday
publication covers its week and the four after; later weeks are unknown (no promotion assumed)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from retailops.forecast import replenishment
from retailops.forecast.replenishment import (
    ForecastOrderUpTo,
    plan_horizon_end,
    published_plan,
    run_closed_loop,
)
from retailops.lake.promotions import read_plan
from retailops.lake.storage import Lake
from tests.ingest.helpers import ingest

COLUMNS = ["product_id", "start_date", "end_date", "discount_pct"]


def _sorted(plan: pd.DataFrame) -> pd.DataFrame:
    return plan[COLUMNS].sort_values(["start_date", "product_id"], ignore_index=True)


def test_the_plan_is_the_one_the_lake_publishes(tmp_path, tiny):
    settings, world, *_ = tiny
    lake = Lake(str(tmp_path / "lake"))
    ingest(lake, "2024-07-01", "2024-07-17", scale=settings.scale, seed=settings.seed)
    # A Monday, a Wednesday and a Sunday: each sees the newest Monday publication and no later.
    for as_of in (date(2024, 7, 8), date(2024, 7, 10), date(2024, 7, 14)):
        landed = _sorted(read_plan(lake, as_of))
        ours = _sorted(published_plan(world, as_of))
        pd.testing.assert_frame_equal(ours, landed, check_dtype=False)
        assert landed["end_date"].max() <= pd.Timestamp(date(2024, 7, 8) + timedelta(days=34))
        assert plan_horizon_end(as_of) == date(2024, 8, 11)


class _Recording:
    """The study's forecaster, recording the plan it is handed at each origin."""

    def __init__(self, inner):
        self.inner, self.name, self.plans = inner, inner.name, []

    def fit(self, history, plan, context):
        return self

    def predict(self, history, origin, horizon, plan, context):
        self.plans.append((origin, plan.copy()))
        return self.inner.predict(history, origin, horizon, plan, context)


def _run(tiny, plan_source=published_plan):
    settings, world, state, observed, context, forecaster = tiny
    recording = _Recording(forecaster)
    policy = ForecastOrderUpTo(recording, observed.copy(), context, 0.95, 7,
                               plan_source=plan_source)
    trace = run_closed_loop(world, state, settings.study_weeks * 7, policy, policy.observed,
                            keep_cells=True)
    return recording.plans, trace, policy


def _beyond_publication(plans) -> int:
    """Plan rows for weeks the newest Monday publication on or before the origin did not cover."""
    return sum(int((plan["end_date"] > pd.Timestamp(plan_horizon_end(origin))).sum())
               for origin, plan in plans)


def test_forecasts_are_handed_only_published_weeks(tiny):
    plans, _, policy = _run(tiny)
    assert len(plans) == 3 and _beyond_publication(plans) == 0
    for origin, plan in plans:
        pd.testing.assert_frame_equal(_sorted(plan), _sorted(published_plan(tiny[1], origin)))
    # The horizon runs past the plan, and the study says so.
    assert policy.log.days_beyond_plan > 0


def test_the_check_sees_a_policy_peeking_at_unpublished_weeks(tiny):
    peeking = lambda world, as_of: published_plan(world, as_of + timedelta(days=14))  # noqa: E731
    plans, _, _ = _run(tiny, peeking)
    assert _beyond_publication(plans) > 0


def test_unpublished_promotions_do_not_change_the_orders_made_before_they_are_published(
        tiny, monkeypatch):
    settings, world, *_ = tiny
    _, before, _ = _run(tiny)
    # Every week after what the first forecast (origin: the day before the start) can see
    # becomes a deep promotion of every product in the plan source. The orders of the first
    # week (made from that forecast) stay exactly the same; later forecasts see the new weeks.
    first_seen = plan_horizon_end(settings.start - timedelta(days=1))
    drawn = replenishment.promotions

    def future_sale(world_, day):
        return np.full(world_.n_products, 0.4) if day > first_seen else drawn(world_, day)

    monkeypatch.setattr(replenishment, "promotions", future_sale)
    plans, after, _ = _run(tiny)
    np.testing.assert_array_equal(before.order_lines[:7], after.order_lines[:7])
    np.testing.assert_array_equal(before.cell_sold[:8], after.cell_sold[:8])
    assert not (plans[0][1]["start_date"] > pd.Timestamp(first_seen)).any()
    assert (plans[-1][1]["discount_pct"] == 0.4).sum() >= world.n_products


@pytest.mark.parametrize("as_of", [date(2024, 7, 1), date(2024, 9, 29)])
def test_the_plan_horizon_is_the_fifth_sunday(as_of):
    monday = as_of - timedelta(days=as_of.weekday())
    assert plan_horizon_end(as_of) == monday + timedelta(days=34)
