"""Validate pipeline: reconcile, write the run report, then enforce it."""

from kedro.pipeline import Node, Pipeline

from retailops.pipelines.validate.nodes import require_valid_run, validate_run

RECONCILED_MODELS = ["stg_sales", "stg_inventory", "stg_shipments",
                     "stg_defects", "fct_daily_sales",
                     "fct_inventory_snapshots"]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(validate_run,
                 inputs=["warehouse", "dbt_build_summary", "params:start_date", "params:end_date",
                         "params:run_date", *RECONCILED_MODELS],
                 outputs="run_report", name="reconcile_run"),
            Node(require_valid_run, inputs="run_report", outputs="validated_run_report",
                 name="require_valid_run"),
        ],
        tags=["validate"],
    )
