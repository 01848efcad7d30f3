"""Publish: after a validated run, swap the readers' serving file to the new marts."""

from retailops.pipelines.publish.pipeline import create_pipeline

__all__ = ["create_pipeline"]
