"""The project's pipelines: one package per stage under ``retailops/pipelines``, plus the runs
composed from them."""

from __future__ import annotations

import importlib
import importlib.resources

from kedro.framework.project import pipelines as project_pipelines
from kedro.pipeline import Pipeline

COMPOSED = {
    # ``kedro run`` with no --pipelines: the whole local platform, in this order.
    # publish: the validated marts go to the readers' serving file (the report reads it).
    "__default__": ("ingest", "transform", "validate", "publish", "report"),
    # What the scheduler runs for one day (``--params run_date=D``). The forecast reads the
    # validated marts and comes before publish, which exposes it to readers; with too little
    # history it writes nothing and the day still succeeds (retailops.daily_run). Not in
    # __default__: its three weeks cannot hold the history the models need.
    "daily": ("ingest", "transform", "validate", "forecast", "publish"),
}


def _stage_names() -> list[str]:
    root = importlib.resources.files("retailops.pipelines")
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and not p.name.startswith(("_", ".")))


def register_pipelines() -> dict[str, Pipeline]:
    """Every stage pipeline, and the default and daily runs composed from them.

    Kedro 1.7 tells the registry which pipelines a command asked for; only those stages are
    imported, so ``--pipelines ingest`` never pays for parsing the dbt project.
    """
    requested = getattr(project_pipelines, "_requested_pipelines", None)
    stages = _stage_names()
    wanted: set[str] = set(stages)
    if requested is not None and "__default__" not in requested:
        wanted = set()
        for name in requested:
            wanted.update(COMPOSED.get(name, (name,)))
    pipelines = {name: importlib.import_module(f"retailops.pipelines.{name}").create_pipeline()
                 for name in stages if name in wanted}
    for name, parts in COMPOSED.items():
        if all(part in pipelines for part in parts):
            pipelines[name] = sum((pipelines[part] for part in parts), Pipeline([]))
    return pipelines
