"""The executive summary's content: every figure it shows, gathered from the warehouse and the
last run report. Rendering (``retailops.reports.page``) never queries anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import pandas as pd

from retailops.reports import queries
from retailops.reports.forecast import ForecastSummary, collect_forecast
from retailops.reports.queries import ReportWindow
from retailops.warehouse.engines import Warehouse


@dataclass(frozen=True)
class SummarySettings:
    """What the summary covers (``conf/base/parameters_report.yml``, key ``report``)."""

    period_days: int = 7
    trend_days: int = 90
    cover_lookback_days: int = 14
    count_lookback_days: int = 60
    top_products: int = 10
    stores_shown: int = 15
    suppliers_shown: int = 10
    currency_symbol: str = "$"

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> "SummarySettings":
        params = dict(params or {})
        unknown = sorted(set(params) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown report setting(s): {', '.join(unknown)}")
        settings = cls(**params)
        for name in ("period_days", "trend_days", "cover_lookback_days", "count_lookback_days",
                     "top_products",
                     "stores_shown", "suppliers_shown"):
            if int(getattr(settings, name)) < 1:
                raise ValueError(f"report setting {name} must be at least 1")
        return settings


@dataclass(frozen=True)
class ExecutiveSummary:
    """Everything the page shows, as plain tables."""

    window: ReportWindow
    data_first_day: date
    kpis: pd.DataFrame
    trend: pd.DataFrame
    categories: pd.DataFrame
    products: pd.DataFrame
    stores: pd.DataFrame
    suppliers: pd.DataFrame
    inventory: pd.DataFrame
    defects: pd.DataFrame
    run_report: dict[str, Any]
    engine: str
    settings: SummarySettings
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    # None: not collected (the page leaves the forecast section out).
    forecast: ForecastSummary | None = None


def _run_window(run_report: dict[str, Any], fallback: ReportWindow) -> tuple[date, date]:
    window = run_report.get("window") or {}
    try:
        return date.fromisoformat(window["first"]), date.fromisoformat(window["last"])
    except (KeyError, TypeError, ValueError):
        return fallback.first, fallback.last


def collect_summary(warehouse: Warehouse, run_report: dict[str, Any],
                    settings: SummarySettings) -> ExecutiveSummary:
    """Run every report query for the period ending on the last day with sales (on DuckDB
    through one read-only connection)."""
    with warehouse.session() as connected:
        return _collect(connected, run_report, settings)


def _collect(warehouse: Warehouse, run_report: dict[str, Any],
             settings: SummarySettings) -> ExecutiveSummary:
    first_day, last_day = queries.sales_date_range(warehouse)
    window = ReportWindow.ending(last_day, settings.period_days, settings.trend_days,
                                 settings.cover_lookback_days, first_day,
                                 settings.count_lookback_days)
    run_first, run_last = _run_window(run_report, window)
    return ExecutiveSummary(
        window=window,
        data_first_day=first_day,
        kpis=queries.period_kpis(warehouse, window),
        trend=queries.daily_trend(warehouse, window),
        categories=queries.revenue_and_profit_by_category(warehouse, window),
        products=queries.top_products(warehouse, window, settings.top_products),
        stores=queries.store_rankings(warehouse, window),
        suppliers=queries.supplier_scorecard(warehouse),
        inventory=queries.inventory_health(warehouse, window),
        # The data-quality section describes the last validated run, so its defects are
        # counted over that run's window.
        defects=queries.defect_counts(warehouse, run_first, run_last),
        run_report=run_report,
        engine=getattr(warehouse, "engine", "unknown"),
        settings=settings,
        forecast=collect_forecast(warehouse),
    )


@dataclass(frozen=True)
class Kpi:
    """One tile: this period's value and its change against the previous period."""

    name: str
    current: float
    previous: float | None
    # "relative": change as a share of the previous value; "points": difference of two rates.
    change_kind: str = "relative"

    @property
    def change(self) -> float | None:
        if self.previous is None or pd.isna(self.previous):
            return None
        if self.change_kind == "points":
            return self.current - self.previous
        if self.previous == 0:
            return None
        return (self.current - self.previous) / abs(self.previous)


def kpi_tiles(kpis: pd.DataFrame) -> list[Kpi]:
    """Net revenue, profit, margin and units, each with its change vs the previous period.

    The previous period counts only when it had sales; otherwise the change is unknown.
    """
    rows = {row["period"]: row for _, row in kpis.iterrows()}
    current = rows["current"]
    previous = rows.get("previous")
    has_previous = previous is not None and int(previous["days_with_sales"]) > 0

    def before(column: str) -> float | None:
        if not has_previous or pd.isna(previous[column]):
            return None
        return float(previous[column])

    margin = current["margin"]
    return [
        Kpi("Net revenue", float(current["net_revenue"]), before("net_revenue")),
        Kpi("Profit", float(current["profit"]), before("profit")),
        Kpi("Margin", float(margin) if not pd.isna(margin) else float("nan"), before("margin"),
            change_kind="points"),
        Kpi("Units sold", float(current["units"]), before("units")),
    ]
