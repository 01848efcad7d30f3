"""Report: the executive summary page over the marts and the last run report."""

from retailops.pipelines.report.pipeline import create_pipeline

__all__ = ["create_pipeline"]
