"""Validate nodes: reconcile the window, then fail the run on any mismatch."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from retailops.errors import ValidationError
from retailops.lake import layout
from retailops.lake.storage import Lake
from retailops.pipelines.ingest.nodes import resolve_window
from retailops.validation import (
    DayResults,
    DeliveryTotals,
    Settings,
    Window,
    daily_window,
    reconcile_daily,
    run_report,
)
from retailops.warehouse.engines import Warehouse

# What validation keeps between runs so that a day reads what changed, not all history: the
# supplier scorecard's delivery totals (retailops.validation.suppliers), a summary and one
# file per day.
DELIVERIES = "metadata/validation/supplier_deliveries"
DELIVERY_SUMMARY = f"{DELIVERIES}/summary.json"
# The promotion, money and stock results of the last daily run's days (validation.kept).
DAY_RESULTS = "metadata/validation/day_results.json"


def _day_file(day: str) -> str:
    return f"{DELIVERIES}/dt={day}/deliveries.json"


def _read_day_files(lake: Lake, days: list[str]) -> dict[str, bytes | None]:
    found = lake.read_many([_day_file(day) for day in days])
    return {day: found.get(_day_file(day)) for day in days}


def _products_sha(lake: Lake) -> str | None:
    """The sha256 of the products file the staging view reads (None when there is none)."""
    try:
        return hashlib.sha256(lake.read_bytes(layout.dimension_file("products"))).hexdigest()
    except FileNotFoundError:
        return None


def validate_run(warehouse: Warehouse, lake: Lake, build_summary: dict[str, Any],
                 start_date: Any, end_date: Any, run_date: Any,
                 validation: dict[str, Any] | None, calendar_years_ahead: int,
                 *marts: Any) -> dict[str, Any]:
    """The run report. A backfill validates start..end; a daily run (``run_date`` given) the
    week up to its day, so a gap left by an earlier day keeps failing until it is repaired."""
    del marts  # lineage: the report reads these models through the warehouse
    settings = Settings.from_params(validation)
    days = resolve_window(start_date, end_date, run_date, calendar_years_ahead)
    kept = DeliveryTotals.from_json(lake.read_bytes(DELIVERY_SUMMARY)
                                    if lake.exists(DELIVERY_SUMMARY) else None)
    daily = run_date not in (None, "")
    # A daily run reads the week's heavy families only for the days the last one did not
    # find clean with the same inputs; a backfill reads its whole window.
    kept_days = (DayResults.from_json(lake.read_bytes(DAY_RESULTS)
                                      if lake.exists(DAY_RESULTS) else None)
                 if daily else None)
    with warehouse.session() as connected:  # DuckDB: one read-only connection for every check
        if daily:
            window = daily_window(connected, date.fromisoformat(days["last"]),
                                  settings.daily_window_days)
        else:
            window = Window(date.fromisoformat(days["first"]), date.fromisoformat(days["last"]))
        checks, totals, day_results = reconcile_daily(
            connected, window.first, window.last, settings, kept,
            lambda days: _read_day_files(lake, days), kept_days,
            _products_sha(lake) if daily else None)
    # Kept whatever the verdict: they are the raw lines' totals, keyed by each partition's
    # checksum, not the mart's (a failing mart does not make them wrong). Day files first: a
    # summary naming a day whose file is missing makes the next run recompute every day.
    for day in totals.recomputed:
        lake.write_bytes(_day_file(day), totals.day_json(day))
    lake.write_bytes(DELIVERY_SUMMARY, totals.summary_json())
    if day_results is not None:
        lake.write_bytes(DAY_RESULTS, day_results.to_json())
    return run_report(checks, build_summary, window.first, window.last, warehouse.engine)


def require_valid_run(report: dict[str, Any]) -> dict[str, Any]:
    """Fail with one line naming the first failed check (all of them are in the report)."""
    # Reports written before checks described their failures carry only name/expected/actual.
    failures = report.get("failures") or [
        f"{c['name']}: expected {c['expected']}, got {c['actual']}"
        for c in report["checks"] if not c["ok"]]
    if failures:
        more = len(failures) - 1
        raise ValidationError(
            f"validation failed for {report['window']['first']}..{report['window']['last']}: "
            f"{failures[0]}"
            + (f" (and {more} more failed check(s) in the run report)" if more else ""))
    return report
