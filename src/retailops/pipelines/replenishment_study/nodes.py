"""Replenishment study nodes: run the closed-loop study, render its page."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from retailops.forecast.replenishment import (
    run_study,
    settings_from_params,
    target_verdict,
)
from retailops.forecast.replenishment import context_for_world, forecaster_for
from retailops.reports.replenishment import render_replenishment_page as _render

log = logging.getLogger(__name__)


def run_replenishment_study(study_params: dict[str, Any], seed: int, scale: float,
                            simulation: dict[str, Any] | None) -> pd.DataFrame:
    """Both ordering policies over the same weeks of the chain the ingest simulates: one row per
    policy run (the built-in policy, then the forecast-driven one per service level)."""
    settings = settings_from_params(study_params, seed, scale, simulation)
    study = run_study(settings, forecaster_for, context_for_world)
    verdict = target_verdict(study)
    log.info("Replenishment study %s..%s at scale %s: headline service level %s %s the target "
             "(>= 50%% fewer lost units at no more inventory); levels meeting it: %s",
             settings.start, settings.end, settings.scale, verdict["headline_service_level"],
             "meets" if verdict["headline_meets_target"] else "does not meet",
             verdict["levels_meeting_target"] or "none")
    return study


def render_replenishment_page(study: pd.DataFrame) -> str:
    """The study as a self-contained HTML page."""
    return _render(study)
