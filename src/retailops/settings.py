"""Kedro project settings for RetailOps.

Configuration lives in ``conf/``: ``base`` is the embedded default (local lake folder and
DuckDB), ``aws`` switches the lake root to S3 and the warehouse to Athena, and ``local`` holds a
developer's own overrides and credentials (never committed).

Relative locations in conf (``lake_root: data/lake``) are read against the project root, not the
working directory, so ``kedro run`` at the root, a notebook in ``notebooks/`` and
``kedro jupyter lab`` reach the same lake, warehouse and reports: Kedro anchors catalog
``path``/``filepath`` keys itself, and ``ProjectPathHooks`` anchors the location globals
(``*_root``, ``*_path``, ``*_dir``) wherever they are used (``retailops.project_paths``).
"""

import os

from retailops.daily_run import DailyRunHooks
from retailops.deployment import DeploymentHooks
from retailops.hooks import RetailOpsHooks
from retailops.plugins import copy_mode_from_loaded_modules, defer_kedro_mlflow
from retailops.project_paths import ProjectPathHooks

# Kedro's telemetry plugin otherwise posts usage data and edits pyproject.toml.
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")

# DeploymentHooks completes an --env aws run's RETAILOPS_* names (retailops.deployment).
HOOKS = (ProjectPathHooks(), DeploymentHooks(), RetailOpsHooks(), DailyRunHooks())

# kedro-mlflow registers its hook on every session by entry point; it would import mlflow and open
# a tracking store on every run, even an ingest. The forecast stage tracks its runs itself.
# kedro-viz's run hooks (installed locally, not in the image) import pandas on a run's first
# dataset load and write .viz/stats.json after it, which nothing here reads: the lineage view
# needs none of it. RETAILOPS_KEDRO_VIZ_STATS=1 keeps them (row counts shown in kedro-viz).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow") + (
    () if os.environ.get("RETAILOPS_KEDRO_VIZ_STATS") == "1" else ("kedro-viz", "kedro_viz"))
# Its CLI group and hook module would import mlflow on every command (1.5-5 s): see plugins.py.
defer_kedro_mlflow()
# Kedro's MemoryDataset imports pandas (and looks for ibis) for every parameter: see plugins.py.
copy_mode_from_loaded_modules()


def _env(name: str, default: str | None = None) -> str | None:
    """``${env:NAME,default}``: read an environment variable anywhere in conf (globals included)."""
    return os.environ.get(name, default)


CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment's catalog entry is merged into the base entry instead of replacing it.
    "merge_strategy": {"catalog": "soft", "parameters": "soft", "globals": "soft"},
    "custom_resolvers": {"env": _env},
}
