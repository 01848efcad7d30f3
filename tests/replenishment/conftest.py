"""A tiny chain for the closed-loop tests: warmed up under the built-in policy, then a few
weeks under each policy from the same state."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from retailops.forecast.replenishment import (
    StudySettings,
    context_for_world,
    forecaster_for,
    published_plan,
    warm_up,
)
from retailops.simulation import build_world

# Six weeks of history (enough for weekly lags), then three weeks under each policy.
TINY = StudySettings(seed=7, scale=0.02, warmup_weeks=6, study_weeks=3,
                     service_levels=(0.8, 0.95), forecaster="seasonal_naive")


# The same chain landed with the built-in rule before issue 15 (simulation.builtin_policy): a
# lean world where stock-outs are frequent (the default ordering loses well under 1%).
TINY_LEAN = replace(TINY, builtin_policy="periodic_review_before_issue_15")


def _warmed_up(settings: StudySettings):
    """(settings, world, start state, observed sales, context, fitted forecaster)."""
    world = build_world(settings.config())
    state, observed = warm_up(world, settings.start)
    context = context_for_world(world)
    origin = settings.start - timedelta(days=1)
    forecaster = forecaster_for(settings)
    forecaster = forecaster.fit(observed.frame(origin), published_plan(world, origin),
                                context) or forecaster
    return settings, world, state, observed, context, forecaster


@pytest.fixture(scope="package")
def tiny():
    """The tiny chain with its default ordering."""
    return _warmed_up(TINY)


@pytest.fixture(scope="package")
def tiny_lean():
    """The tiny chain whose own ordering is the rule before issue 15."""
    return _warmed_up(TINY_LEAN)


def scrambled_world(world):
    """The same chain as a buyer sees it (stores, products, suppliers, case packs, prices, the
    plan), with every demand parameter and the built-in levels derived from them shuffled: a
    policy that reads only what the chain observed orders the same in it."""
    import dataclasses

    import numpy as np

    rng = np.random.default_rng(0)
    return dataclasses.replace(
        world,
        base_lines_per_day=rng.permutation(world.base_lines_per_day) * 3.0,
        product_elasticity=rng.permutation(world.product_elasticity) * 0.5,
        product_summer_peak=rng.permutation(world.product_summer_peak),
        reorder_point=rng.permutation(world.reorder_point),
        order_up_to=rng.permutation(world.order_up_to) * 2)
