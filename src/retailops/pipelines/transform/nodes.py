"""Transform nodes: plan the days to rebuild, verify what dbt will read, one in-process
``dbt build``, record what was built, and one lineage node per dbt model."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from retailops.errors import CorruptPartitionError
from retailops.lake import layout
from retailops.lake.partitions import verify_partition
from retailops.lake.storage import Lake
from retailops.simulation import DIMENSION_TABLES, FACT_TABLES, RAW_COLUMNS
from retailops.warehouse import build_state, dbt
from retailops.warehouse.engines import DuckDBWarehouse, Warehouse

log = logging.getLogger(__name__)


def plan_rebuild(lake: Lake, raw_days: dict[str, list[date]], raw_dimensions: dict[str, int],
                 warehouse: Warehouse, run_date: str | None,
                 dbt_params: dict[str, Any]) -> dict[str, Any]:
    """Which days this build redoes: the lake's manifests against what the warehouse recorded
    at its last successful build (``build_state``). A full build when nothing was built yet."""
    del raw_days, raw_dimensions  # ordering: plan after ingest landed the run's day
    current, sizes = build_state.current_partitions(lake, FACT_TABLES, DIMENSION_TABLES)
    ready = all(warehouse.has_table(layer, name) for layer, name in build_state.REQUIRED_MODELS)
    built = build_state.load_built(warehouse, lake) if ready else {}
    plan = build_state.plan(current, built, run_date or None, ready,
                            full_refresh=bool(dbt_params.get("full_refresh")))
    if plan.full:
        log.info("Transform: full build (%s)", plan.reason)
    else:
        log.info("Transform: rebuilding %d day(s) %s (new %s, changed %s, removed %s)",
                 len(plan.days), _span(plan.days), _span(plan.new), _span(plan.changed),
                 _span(plan.removed))
    result = plan.as_dict()
    result["sizes"] = [[t, d, n] for (t, d), n in sorted(sizes.items())]
    return result


def _span(days: tuple[str, ...] | list[str]) -> str:
    if not days:
        return "none"
    return days[0] if len(days) == 1 else f"{days[0]}..{days[-1]} ({len(days)})"


def verify_raw_partitions(lake: Lake, raw_days: dict[str, list[date]],
                          rebuild_plan: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Check the partitions dbt is about to read against their manifests, so a corrupt or
    drifted file stops the run with its name instead of flowing into the marts.

    The days the build rebuilds (every day on a full build) are read whole: sha256 against the
    manifest, header against the contract's columns. Every other complete partition is checked
    by size only (one listing per table), so a daily run does not get slower as history grows.
    Returns partitions checked per table, by kind of check."""
    rebuilt = None if rebuild_plan["full"] else set(rebuild_plan["days"])
    sizes = {(t, d): n for t, d, n in rebuild_plan.get("sizes", [])}
    checked: dict[str, dict[str, int]] = {"sha256": {}, "size": {}}
    for table, days in raw_days.items():
        hashed = [d for d in days if rebuilt is None or d.isoformat() in rebuilt]
        for day in hashed:
            verify_partition(lake, table, day, RAW_COLUMNS[table])
        others = {d.isoformat(): sizes.get((table, d.isoformat()), -1) for d in days
                  if d not in hashed}
        _check_sizes(lake, table, others)
        checked["sha256"][table] = len(hashed)
        checked["size"][table] = len(others)
    return checked


def _check_sizes(lake: Lake, table: str, expected: dict[str, int]) -> None:
    if not expected:
        return
    listed = lake.fs.find(lake.url(layout.fact_folder(table)), detail=True)
    actual = {path.split("://", 1)[-1]: info.get("size") for path, info in listed.items()}
    for day, size in sorted(expected.items()):
        relative = layout.fact_file(table, date.fromisoformat(day))
        where = lake.url(relative)
        found = actual.get(where.split("://", 1)[-1])
        if found is None:
            raise CorruptPartitionError(f"partition {where} is missing but has a manifest")
        if size >= 0 and int(found) != size:
            raise CorruptPartitionError(
                f"partition {where} does not match its manifest (size: {found} bytes, "
                f"manifest says {size})")


def build_warehouse(lake: Lake, verified_partitions: dict[str, Any], raw_dimensions: dict[str, int],
                    warehouse: Warehouse, run_date: str | None, rebuild_plan: dict[str, Any],
                    dbt_params: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """Build the models and run their data tests over the complete raw partitions.

    A full build (nothing built yet, no ``run_date``, or a full refresh): every model and test
    over every complete day, incremental models recreated. Otherwise (a daily run on a built
    warehouse): only the models a day changes (dbt selector ``daily``), their facts rebuilt for
    the planned days. The summary is returned even when something failed, so the run report
    can name it.
    """
    del verified_partitions, raw_dimensions  # ordering and lineage: dbt reads the lake itself
    duckdb_path = warehouse.path if isinstance(warehouse, DuckDBWarehouse) else None
    full = bool(rebuild_plan["full"])
    summary = dbt.build(lake.root, target=dbt_params["target"], run_date=run_date or None,
                        rebuild_days=None if full else list(rebuild_plan["days"]),
                        duckdb_path=duckdb_path, full_refresh=full,
                        selector=None if full else dbt_params.get("daily_selector"),
                        calendar_years_ahead=parameters.get("calendar_years_ahead"))
    summary["rebuild"] = {k: rebuild_plan[k] for k in ("full", "reason", "days", "new",
                                                       "changed", "removed")}
    return summary


def record_built_partitions(build_result: dict[str, Any], rebuild_plan: dict[str, Any],
                            lake: Lake, warehouse: Warehouse) -> None:
    """After a successful build only: record what the warehouse now holds, so the next run
    rebuilds exactly the partitions that change after this one."""
    del build_result  # ordering: only a successful build gets here
    built = {(t, d): s for t, d, s in rebuild_plan["current"]}
    build_state.record_built(warehouse, lake, built)


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
