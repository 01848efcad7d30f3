"""Publish pipeline: validated marts -> the readers' serving file (conf: ``serving_warehouse``)."""

from kedro.pipeline import Node, Pipeline

from retailops.pipelines.publish.nodes import publish_marts

# What readers query through the serving file (inputs for lineage; the dataset does the reading).
PUBLISHED_MODELS = ["dim_date", "dim_products", "dim_stores", "fct_daily_sales",
                    "fct_inventory_snapshots", "mart_supplier_performance", "stg_defects",
                    # the forecast stage's output: the daily run publishes after it
                    "forecast_marts"]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(publish_marts, inputs=["run_report", "params:publish", *PUBLISHED_MODELS],
                 outputs="serving_warehouse", name="publish_marts"),
        ],
        tags=["publish"],
    )
