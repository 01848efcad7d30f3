"""Metabase: provision the collection, database connection, questions and dashboards as code."""

from retailops.pipelines.metabase.pipeline import create_pipeline

__all__ = ["create_pipeline"]
