"""Transform nodes: plan the days to rebuild, verify what dbt will read, one in-process
``dbt build``, record what was built, and one lineage node per dbt model."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

from retailops.lake.landing import start_finishing
from retailops.lake.manifest_index import complete_manifests
from retailops.lake.partitions import verify_lake
from retailops.lake.storage import Lake
from retailops.simulation import DIMENSION_TABLES, FACT_TABLES, RAW_COLUMNS, WEEKLY_TABLES
from retailops.warehouse import build_state, dbt
from retailops.warehouse.engines import DuckDBWarehouse, Warehouse

log = logging.getLogger(__name__)


def plan_rebuild(lake: Lake, raw_days: dict[str, list[date]], raw_dimensions: dict[str, int],
                 warehouse: Warehouse, run_date: str | None,
                 dbt_params: dict[str, Any]) -> dict[str, Any]:
    """Which days this build redoes: the lake's manifests against what the warehouse recorded
    at its last successful build (``build_state``). A full build when nothing was built yet.
    The manifests read here travel with the plan, so verification does not read them again.
    The promotion plan's Monday partitions are tracked like the facts' (a new or re-landed
    publication puts its Monday in the rebuild), so its files are verified before dbt reads
    them; a day without one is no less complete."""
    del raw_days, raw_dimensions  # ordering: plan after ingest landed the run's day
    # Through the manifest index: one listing per table, and only the manifests that changed
    # since the last look are read, so the plan does not slow down as history grows.
    manifests = {table: complete_manifests(lake, table) for table in FACT_TABLES + WEEKLY_TABLES}
    current = build_state.current_partitions(lake, manifests, DIMENSION_TABLES)
    ready, built, moved = _built_state(warehouse, lake)
    plan = build_state.plan(current, built, run_date or None, ready,
                            full_refresh=bool(dbt_params.get("full_refresh")), moved=moved)
    if plan.full:
        log.info("Transform: full build (%s)", plan.reason)
    else:
        log.info("Transform: rebuilding %d day(s) %s (new %s, changed %s, removed %s)",
                 len(plan.days), _span(plan.days), _span(plan.new), _span(plan.changed),
                 _span(plan.removed))
        if plan.relocated:
            log.info("Transform: the lake moved to %s since the last build: its dimension "
                     "views are re-created with the days", lake.root)
    # The complete days per table travel with the plan too (what loading ``raw_days`` gives:
    # the days whose manifest parses), so verification does not list and read every manifest
    # of the lake once more.
    raw_days_now = {table: sorted(days) for table, days in manifests.items()}
    return {**plan.as_dict(), "manifests": manifests, "raw_days": raw_days_now}


def _built_state(warehouse: Warehouse, lake: Lake) -> tuple[bool, build_state.Built, bool]:
    """Whether the warehouse holds the required models, what it recorded, and whether the
    lake moved since: one DuckDB session for the queries (each open of the file costs 25-130
    ms)."""
    if isinstance(warehouse, DuckDBWarehouse) and not Path(warehouse.path).is_file():
        return False, {}, False
    with warehouse.session() as held:
        ready = all(held.has_table(layer, name) for layer, name in build_state.REQUIRED_MODELS)
        if not ready:
            return False, {}, False
        return True, build_state.load_built(held, lake), build_state.lake_moved(held, lake)


def _span(days: tuple[str, ...] | list[str]) -> str:
    if not days:
        return "none"
    return days[0] if len(days) == 1 else f"{days[0]}..{days[-1]} ({len(days)})"


def verify_raw_partitions(lake: Lake, raw_days: dict[str, list[date]],
                          rebuild_plan: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Check the partitions dbt is about to read against their manifests, so a corrupt or
    drifted file stops the run with its name instead of flowing into the marts.

    Every complete partition: its file exists with the size its manifest records (a listing,
    no reads). The days the build rebuilds (every day on a full build): the sha256 of the
    bytes and the header's columns too. A daily run so reads only its own and the changed
    days, and does not get slower as history grows. Returns partitions checked per table, by
    kind of check."""
    if rebuild_plan["full"]:
        sha_days = {t: list(days) for t, days in raw_days.items()}
    else:
        wanted = {date.fromisoformat(d) for d in rebuild_plan["days"]}
        sha_days = {t: [d for d in days if d in wanted] for t, days in raw_days.items()}
    manifests = verify_lake(lake, list(raw_days), sha_days, RAW_COLUMNS,
                            manifests=rebuild_plan.get("manifests"))
    hashed = {t: len(set(sha_days[t]) & set(manifests[t])) for t in raw_days}
    return {"sha256": hashed, "size": {t: len(manifests[t]) - hashed[t] for t in raw_days}}


def verify_planned_partitions(lake: Lake, rebuild_plan: dict[str, Any]) -> dict[str, dict[str, int]]:
    """``verify_raw_partitions`` over the complete days the plan read (the pipeline's node).
    Once they pass, the run's landing writes the ground truth and checkpoint it left for later
    on a background thread (``landing.start_finishing``) while dbt builds."""
    raw_days = {t: [date.fromisoformat(str(d)) if isinstance(d, str) else d for d in days]
                for t, days in rebuild_plan["raw_days"].items()}
    verified = verify_raw_partitions(lake, raw_days, rebuild_plan)
    start_finishing()
    return verified


def build_warehouse(lake: Lake, verified_partitions: dict[str, Any], raw_dimensions: dict[str, int],
                    warehouse: Warehouse, run_date: str | None, rebuild_plan: dict[str, Any],
                    dbt_params: dict[str, Any], calendar_years_ahead: int) -> dict[str, Any]:
    """Build the models and run their data tests over the complete raw partitions.

    A full build (nothing built yet, no ``run_date``, or a full refresh): every model and test
    over every complete day, incremental models recreated. Otherwise (a daily run on a built
    warehouse): only the models a day changes (dbt selector ``daily``), their facts rebuilt for
    the planned days. dim_date runs through Dec 31 of this year + ``calendar_years_ahead``.
    The summary is returned even when something failed, so the run report can name it.
    """
    del verified_partitions, raw_dimensions  # ordering and lineage: dbt reads the lake itself
    duckdb_path = warehouse.path if isinstance(warehouse, DuckDBWarehouse) else None
    full = bool(rebuild_plan["full"])
    selector = None if full else dbt_params.get("daily_selector")
    if selector and rebuild_plan.get("relocated"):
        # A local lake moved since the last build: the dimension views are re-created with
        # the days (build_state.LOCATION_TABLE); they read the lake's files by path.
        selector = dbt_params.get("relocated_selector") or "daily_relocated"
    summary = dbt.build(lake.root, target=dbt_params["target"], run_date=run_date or None,
                        rebuild_days=None if full else list(rebuild_plan["days"]),
                        duckdb_path=duckdb_path, full_refresh=full, selector=selector,
                        calendar_years_ahead=calendar_years_ahead)
    summary["rebuild"] = {k: rebuild_plan.get(k) for k in ("full", "reason", "days", "new",
                                                           "changed", "removed", "relocated")}
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
