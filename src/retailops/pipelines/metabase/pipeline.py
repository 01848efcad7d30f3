"""Metabase pipeline: one node that plans (and unless dry run, applies) the dashboard spec."""

from kedro.pipeline import Node, Pipeline

from retailops.pipelines.metabase.nodes import provision_metabase


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                provision_metabase,
                inputs=["metabase_api", "metabase_dashboard_spec", "params:metabase"],
                outputs="metabase_plan",
                name="provision_metabase",
            ),
        ],
        tags=["metabase"],
    )
