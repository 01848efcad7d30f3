"""Validate: reconcile the run's numbers and write the run report under metadata/runs/."""

from retailops.pipelines.validate.pipeline import create_pipeline

__all__ = ["create_pipeline"]
