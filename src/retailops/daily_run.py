"""What the daily run (``kedro run --pipelines daily``, and the scheduler's Forecast step)
changes in the stages it composes.

A young lake holds too little history for the forecast stage. Run alone, the stage fails in one
line (``forecast.when_history_short: fail``, its default: someone asked for a forecast). In the
daily run it must not fail the day: the day's data is landed, built and validated, and publish
comes after the forecast. So a daily run sets ``forecast.when_history_short`` to ``skip`` (the
stage then logs its one line and writes nothing), unless the run's own ``--params`` set it.
The scheduler's Forecast step runs ``--pipelines forecast`` as its own task: the entrypoint
passes the same parameter there (``deploy/ecs/entrypoint.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

log = logging.getLogger(__name__)

DAILY = "daily"
SHORT_HISTORY_KEY = "when_history_short"


def _set_by_the_run(runtime: dict[str, Any]) -> bool:
    forecast = runtime.get("forecast")
    return (isinstance(forecast, dict) and SHORT_HISTORY_KEY in forecast) or (
        f"forecast.{SHORT_HISTORY_KEY}" in runtime)


def daily_forecast_params(params: dict[str, Any], runtime: dict[str, Any]) -> dict[str, Any]:
    """The forecast parameters of a daily run: short history skips, unless the run said."""
    if _set_by_the_run(runtime):
        return params
    return {**params, SHORT_HISTORY_KEY: "skip"}


class DailyRunHooks:
    """Registered in ``settings.py``."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        if DAILY not in (run_params.get("pipeline_names") or []):
            return
        name = "params:forecast"
        if name not in catalog:
            return
        params = catalog.load(name)
        changed = daily_forecast_params(params, run_params.get("runtime_params") or {})
        if changed is not params:
            catalog[name] = changed
            log.info("Daily run: the forecast stage skips (one line) when history is short")
