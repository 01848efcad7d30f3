"""Report nodes: gather the summary's figures from the warehouse, then render the page."""

from __future__ import annotations

from typing import Any

from retailops.reports import (
    ExecutiveSummary,
    SummarySettings,
    collect_summary,
    render_executive_summary,
)
from retailops.warehouse.engines import Warehouse


def summarise_marts(warehouse: Warehouse, run_report: dict[str, Any],
                    report_params: dict[str, Any], *marts: Any) -> ExecutiveSummary:
    """Every figure of the executive summary, for the period ending on the last day with sales."""
    del marts  # lineage: the queries read these marts through the warehouse
    return collect_summary(warehouse, run_report, SummarySettings.from_params(report_params))


def render_summary_page(summary: ExecutiveSummary) -> str:
    """The executive summary as one self-contained HTML page."""
    return render_executive_summary(summary)
