"""Validate pipeline: reconcile, write the run report, then enforce it. The lake is an input
for what validation keeps between runs (the supplier scorecard's per-day delivery totals)."""

from kedro.pipeline import Node, Pipeline

from retailops.pipelines.validate.nodes import require_valid_run, validate_run

# The models the checks read (inputs for lineage and ordering: validate runs after they are
# built).
RECONCILED_MODELS = ["stg_manifests", "base_sales", "base_shipments", "stg_sales",
                     "stg_inventory", "stg_shipments", "stg_defects", "stg_products",
                     "stg_promotions",
                     "fct_daily_sales", "fct_inventory_snapshots", "mart_supplier_performance"]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(validate_run,
                 inputs=["warehouse", "lake", "dbt_build_summary", "params:start_date",
                         "params:end_date", "params:run_date", "params:validation",
                         "params:calendar_years_ahead",
                         *RECONCILED_MODELS],
                 outputs="run_report", name="reconcile_run"),
            Node(require_valid_run, inputs="run_report", outputs="validated_run_report",
                 name="require_valid_run"),
        ],
        tags=["validate"],
    )
