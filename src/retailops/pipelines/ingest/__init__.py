"""Ingest: simulate the chain and land dimensions and daily fact partitions in the raw zone."""

from retailops.pipelines.ingest.pipeline import create_pipeline

__all__ = ["create_pipeline"]
