"""The forecast stage: train the due models (weekly, or when none is stored), predict the next
14 days for every store x product, write the forecast marts. Library: ``retailops.forecast``."""

from retailops.pipelines.forecast.pipeline import create_pipeline

__all__ = ["create_pipeline"]
