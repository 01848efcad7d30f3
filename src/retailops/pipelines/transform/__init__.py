"""Transform: dbt builds staging views and marts from the raw zone, then tests them."""

from retailops.pipelines.transform.pipeline import create_pipeline

__all__ = ["create_pipeline"]
