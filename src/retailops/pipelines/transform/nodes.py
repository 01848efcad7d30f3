"""Transform nodes: one in-process ``dbt build`` and one lineage node per dbt model."""

from __future__ import annotations

from datetime import date
from typing import Any

from retailops.lake.partitions import verify_partition
from retailops.lake.storage import Lake
from retailops.simulation import RAW_COLUMNS
from retailops.warehouse import dbt
from retailops.warehouse.engines import DuckDBWarehouse, Warehouse


def verify_raw_partitions(lake: Lake, raw_days: dict[str, list[date]],
                          run_date: str | None) -> dict[str, int]:
    """Check the partitions dbt is about to read against their manifests and the contract's
    columns (the run's day, or every complete day), so a corrupt or drifted file stops the run
    with its name instead of flowing into the marts. Returns partitions checked per table."""
    checked = {}
    for table, days in raw_days.items():
        wanted = [d for d in days if not run_date or d.isoformat() == str(run_date)]
        for day in wanted:
            verify_partition(lake, table, day, RAW_COLUMNS[table])
        checked[table] = len(wanted)
    return checked


def build_warehouse(lake: Lake, verified_partitions: dict[str, int], raw_dimensions: dict[str, int],
                    warehouse: Warehouse, run_date: str | None,
                    dbt_params: dict[str, Any]) -> dict[str, Any]:
    """Build the models and run their data tests over the complete raw partitions.

    Without ``run_date``: every model and test, the facts over every complete day. With it
    (the daily run): the facts rebuild only that day, and once the warehouse exists only the
    models a day changes are built (dbt selector ``daily``). The summary is returned even
    when something failed, so the run report can name it.
    """
    del verified_partitions, raw_dimensions  # ordering and lineage: dbt reads the lake itself
    duckdb_path = warehouse.path if isinstance(warehouse, DuckDBWarehouse) else None
    full_refresh = bool(dbt_params.get("full_refresh"))
    # A daily run rebuilds only what a day changes, once a full build exists to build upon.
    daily = bool(run_date) and not full_refresh and warehouse.has_table("marts", "dim_date")
    return dbt.build(lake.root, target=dbt_params["target"], run_date=run_date or None,
                     duckdb_path=duckdb_path, full_refresh=full_refresh,
                     selector=dbt_params.get("daily_selector") if daily else None)


def require_successful_build(build_summary: dict[str, Any]) -> dict[str, Any]:
    """Fail the run, naming the failed models and tests, unless the build succeeded."""
    dbt.raise_for_failures(build_summary)
    return build_summary


def model_result(model_name: str):
    """A node function that reports one model's result from the build summary."""

    def publish(build_summary: dict[str, Any], *upstream: Any) -> dict[str, Any]:
        del upstream  # lineage only: dbt built the model from these
        for entry in build_summary["models"]:
            if entry["name"] == model_name:
                return entry
        if build_summary.get("selector"):
            # A daily run builds only what a day changes; this model stands from earlier builds.
            return {"name": model_name, "status": "unchanged"}
        return {"name": model_name, "status": "not built"}

    publish.__name__ = f"publish_{model_name}"
    publish.__doc__ = f"Publish dbt model {model_name} as a catalog dataset once dbt built it."
    return publish
