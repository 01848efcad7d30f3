"""Reports on the marts: the analysis queries (ANSI SQL over the ``Warehouse`` interface, the
same on DuckDB and Athena) and the self-contained executive summary page built from them."""

from retailops.reports.page import render_executive_summary
from retailops.reports.queries import REPORT_QUERIES, NoSalesError, ReportWindow
from retailops.reports.summary import (
    ExecutiveSummary,
    SummarySettings,
    collect_summary,
    kpi_tiles,
)

__all__ = [
    "REPORT_QUERIES",
    "ExecutiveSummary",
    "NoSalesError",
    "ReportWindow",
    "SummarySettings",
    "collect_summary",
    "kpi_tiles",
    "render_executive_summary",
]
