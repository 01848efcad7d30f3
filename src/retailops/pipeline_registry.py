"""The project's pipelines: one folder per stage under ``retailops/pipelines``."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# ``kedro run`` with no --pipelines: the whole local platform, in this order.
DEFAULT_STAGES = ("ingest", "transform", "validate", "report")
# What the scheduler runs for one day (`--params run_date=D`).
DAILY_STAGES = ("ingest", "transform", "validate")


def register_pipelines() -> dict[str, Pipeline]:
    """Discover every pipeline package and compose the default and daily runs."""
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (pipelines[name] for name in DEFAULT_STAGES if name in pipelines), Pipeline([])
    )
    pipelines["daily"] = sum((pipelines[name] for name in DAILY_STAGES if name in pipelines),
                             Pipeline([]))
    return pipelines
