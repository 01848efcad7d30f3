"""Validate nodes: reconcile the window, then fail the run on any mismatch."""

from __future__ import annotations

from datetime import date
from typing import Any

from retailops.errors import ValidationError
from retailops.pipelines.ingest.nodes import resolve_window
from retailops.validation import reconcile, run_report
from retailops.warehouse.engines import Warehouse


def validate_run(warehouse: Warehouse, build_summary: dict[str, Any], start_date: Any,
                 end_date: Any, run_date: Any, *marts: Any) -> dict[str, Any]:
    """The run report for the run's window (``run_date`` alone, or start..end)."""
    del marts  # lineage: the report reads these marts through the warehouse
    window = resolve_window(start_date, end_date, run_date)
    first, last = date.fromisoformat(window["first"]), date.fromisoformat(window["last"])
    with warehouse.session() as connected:  # DuckDB: one read-only connection for every check
        checks = reconcile(connected, first, last)
    return run_report(checks, build_summary, first, last, warehouse.engine)


def require_valid_run(report: dict[str, Any]) -> dict[str, Any]:
    """Fail with one line naming the first mismatch (all of them are in the report)."""
    for check in report["checks"]:
        if not check["ok"]:
            more = len(report["failed_checks"]) - 1
            raise ValidationError(
                f"validation failed for {report['window']['first']}..{report['window']['last']}: "
                f"{check['name']}: expected {check['expected']:g}, got {check['actual']:g}"
                + (f" (and {more} more failed check(s) in the run report)" if more else ""))
    return report
