"""A tiny chain for the closed-loop tests: warmed up under the built-in policy, then a few
weeks under each policy from the same state."""

from __future__ import annotations

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


@pytest.fixture(scope="package")
def tiny():
    """(settings, world, start state, observed sales, context, fitted forecaster)."""
    world = build_world(TINY.config())
    state, observed = warm_up(world, TINY.start)
    context = context_for_world(world)
    origin = TINY.start - timedelta(days=1)
    forecaster = forecaster_for(TINY)
    forecaster = forecaster.fit(observed.frame(origin), published_plan(world, origin),
                                context) or forecaster
    return TINY, world, state, observed, context, forecaster
