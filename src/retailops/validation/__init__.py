"""Validation of a run: freshness, row reconciliation raw -> staging -> marts, the defect ledger
against what staging caught, and the dbt test summary, gathered into one run report."""

from retailops.validation.reconcile import Check, reconcile, run_report

__all__ = ["Check", "reconcile", "run_report"]
