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
