"""Report pipeline: marts + the last run report -> the executive summary page."""

from kedro.pipeline import Node, Pipeline

from retailops.pipelines.report.nodes import render_summary_page, summarise_marts

# What the summary's queries read (inputs for lineage). The reading goes through the readers'
# published serving file (serving_warehouse), so a report never holds the file dbt writes.
REPORTED_MODELS = ["fct_daily_sales", "fct_inventory_snapshots",
                   "dim_products", "dim_stores", "mart_supplier_performance",
                   "stg_defects"]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(summarise_marts,
                 inputs=["serving_warehouse", "run_report", "params:report", *REPORTED_MODELS],
                 outputs="executive_summary_data", name="summarise_marts"),
            Node(render_summary_page, inputs="executive_summary_data",
                 outputs="executive_summary", name="render_executive_summary"),
        ],
        tags=["report"],
    )
