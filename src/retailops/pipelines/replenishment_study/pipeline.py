"""Replenishment study pipeline: simulate both ordering policies from the same start state ->
the study dataset -> its HTML page. A what-if: it reads no lake and writes none."""

from kedro.pipeline import Node, Pipeline

from retailops.pipelines.replenishment_study.nodes import (
    render_replenishment_page,
    run_replenishment_study,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(run_replenishment_study,
                 inputs=["params:replenishment_study", "params:seed", "params:scale",
                         "params:simulation"],
                 outputs="replenishment_study", name="run_replenishment_study"),
            Node(render_replenishment_page, inputs="replenishment_study",
                 outputs="replenishment_report", name="render_replenishment_page"),
        ],
        tags=["replenishment_study"],
    )
