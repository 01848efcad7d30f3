"""The forecast stage's first and last nodes (the surfaces' side of issue 12):

- ``require_validated_marts``: the forecast reads only marts whose last validation passed. It
  takes the validation's run report, so in the daily run Kedro also orders the forecast after
  validate (the warehouse itself is a catalog input every stage could read first).
- ``check_forecast_marts``: the forecast source's dbt tests over the forecast date just written
  (``retailops.warehouse.dbt.run_forecast_tests``), so a bad forecast stops the run before
  publish shows it to readers. Its output, ``forecast_marts``, is an input of publish: in the
  daily run Kedro therefore publishes after the forecast.
"""

from __future__ import annotations

import logging
from typing import Any

from retailops.lake.storage import Lake
from retailops.warehouse import dbt
from retailops.warehouse.engines import DuckDBWarehouse, Warehouse

log = logging.getLogger(__name__)


def require_validated_marts(run_report: dict[str, Any], warehouse: Warehouse) -> Warehouse:
    """The warehouse, once the last validation passed (else one line naming its failure)."""
    from retailops.pipelines.validate.nodes import require_valid_run

    require_valid_run(run_report)
    return warehouse


def check_forecast_marts(forecast_run_summary: dict[str, Any], dbt_params: dict[str, Any],
                         lake: Lake, warehouse: Warehouse) -> dict[str, Any]:
    """dbt-test the forecast date the stage wrote; fail the run in one line naming the failed
    tests. Nothing written (too little history, skipped): nothing to test."""
    forecast_date = forecast_run_summary.get("forecast_date")
    if not forecast_date:
        log.info("Forecast checks: no forecast written, nothing to test")
        return {"forecast_date": None, "tested": False,
                "skipped": forecast_run_summary.get("skipped")}
    duckdb_path = warehouse.path if isinstance(warehouse, DuckDBWarehouse) else None
    summary = dbt.run_forecast_tests(lake.root, dbt_params["target"], forecast_date,
                                     duckdb_path=duckdb_path)
    dbt.raise_for_failures(summary, f"dbt test of the forecast for {forecast_date}")
    return {"forecast_date": forecast_date, "tested": True,
            "tests_passed": summary["tests_passed"], "seconds": summary["seconds"]}
