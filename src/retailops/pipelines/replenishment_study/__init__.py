"""The closed-loop replenishment study (``kedro run --pipelines replenishment_study``)."""

from retailops.pipelines.replenishment_study.pipeline import create_pipeline

__all__ = ["create_pipeline"]
