"""Transform pipeline, derived from dbt's manifest: one build node, then a node per model whose
inputs are the model's own dbt dependencies (so kedro-viz draws dbt's lineage)."""

from kedro.pipeline import Node, Pipeline

from retailops.pipelines.transform.nodes import (
    build_warehouse,
    verify_raw_partitions,
    model_result,
    require_successful_build,
)
from retailops.warehouse.lineage import SOURCE_DATASETS, DbtModel, dbt_models


def _model_node(model: DbtModel) -> Node:
    upstream = list(model.depends_on_models)
    upstream += sorted({SOURCE_DATASETS[s] for s in model.depends_on_sources})
    return Node(model_result(model.name), inputs=["dbt_build_result", *upstream],
                outputs=model.dataset, name=f"dbt_{model.name}", tags=["dbt", model.layer])


def create_pipeline(**kwargs) -> Pipeline:
    models = dbt_models()
    return Pipeline(
        [
            Node(verify_raw_partitions, inputs=["lake", "raw_days", "params:run_date"],
                 outputs="verified_raw_partitions", name="verify_raw_partitions"),
            Node(build_warehouse,
                 inputs=["lake", "verified_raw_partitions", "raw_dimensions", "warehouse",
                         "params:run_date", "params:dbt"],
                 outputs="dbt_build_summary", name="dbt_build"),
            Node(require_successful_build, inputs="dbt_build_summary",
                 outputs="dbt_build_result", name="require_successful_dbt_build"),
            *[_model_node(m) for m in models],
        ],
        tags=["transform"],
    )
