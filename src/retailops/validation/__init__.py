"""Validation of a run: every day of the window landed and in the marts, rows, money, the
supplier scorecard and stock reconciled from the raw data, the defect ledger against what
staging caught, and the dbt test summary, gathered into one run report."""

from retailops.validation.checks import Check
from retailops.validation.kept import DayResults
from retailops.validation.reconcile import (
    Settings,
    reconcile,
    reconcile_daily,
    reconcile_keeping,
    run_report,
)
from retailops.validation.suppliers import DeliveryTotals
from retailops.validation.window import Window, daily_window

__all__ = ["Check", "DayResults", "DeliveryTotals", "Settings", "Window", "daily_window",
           "reconcile", "reconcile_daily", "reconcile_keeping", "run_report"]
