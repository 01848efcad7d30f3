"""Transform pipeline, derived from dbt's manifest: plan which days to rebuild, verify the
partitions dbt will read, one build node, record what was built, then a node per model whose
inputs are the model's own dbt dependencies (so kedro-viz draws dbt's lineage)."""

from kedro.pipeline import Node, Pipeline

from retailops.pipelines.transform.nodes import (
    build_warehouse,
    model_result,
    plan_rebuild,
    record_built_partitions,
    require_successful_build,
    verify_planned_partitions,
)
from retailops.warehouse.lineage import SOURCE_DATASETS, DbtModel, dbt_models


# A model over the day partitions reads them as verified (the lineage stays raw_days -> the
# model, through the verify node); loading ``raw_days`` itself lists the whole lake again,
# ~0.2 s per model node on a year of history.
_LINEAGE_INPUT = {"raw_days": "verified_raw_partitions"}


def _model_node(model: DbtModel) -> Node:
    upstream = list(model.depends_on_models)
    upstream += sorted({_LINEAGE_INPUT.get(SOURCE_DATASETS[s], SOURCE_DATASETS[s])
                        for s in model.depends_on_sources})
    return Node(model_result(model.name), inputs=["dbt_build_result", *upstream],
                outputs=model.dataset, name=f"dbt_{model.name}", tags=["dbt", model.layer])


def create_pipeline(**kwargs) -> Pipeline:
    models = dbt_models()
    return Pipeline(
        [
            # raw_days and raw_dimensions order the plan after ingest in composed runs.
            Node(plan_rebuild, inputs=["lake", "raw_days", "raw_dimensions", "warehouse",
                                       "params:run_date", "params:dbt"],
                 outputs="rebuild_plan", name="plan_rebuild"),
            # The plan carries the complete days it read: loading raw_days again would read
            # every manifest of the lake once more.
            Node(verify_planned_partitions, inputs=["lake", "rebuild_plan"],
                 outputs="verified_raw_partitions", name="verify_raw_partitions"),
            Node(build_warehouse,
                 inputs=["lake", "verified_raw_partitions", "raw_dimensions", "warehouse",
                         "params:run_date", "rebuild_plan", "params:dbt",
                         "params:calendar_years_ahead"],
                 outputs="dbt_build_summary", name="dbt_build"),
            Node(require_successful_build, inputs="dbt_build_summary",
                 outputs="dbt_build_result", name="require_successful_dbt_build"),
            Node(record_built_partitions,
                 inputs=["dbt_build_result", "rebuild_plan", "lake", "warehouse"],
                 outputs=None, name="record_built_partitions"),
            *[_model_node(m) for m in models],
        ],
        tags=["transform"],
    )
