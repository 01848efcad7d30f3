"""Ingest pipeline: validate the window, check (or record) the lake's configuration, land the
dimensions and the Mondays' promotion plans, stream the days into the lake."""

from kedro.pipeline import Node, Pipeline

from retailops.pipelines.ingest.nodes import (
    build_dimensions,
    check_lake_configuration,
    publish_promotions,
    resolve_window,
    simulate_window,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                resolve_window,
                inputs=["params:start_date", "params:end_date", "params:run_date",
                        "params:calendar_years_ahead"],
                outputs="ingest_window",
                name="resolve_ingest_window",
            ),
            # First of all: the lake records its configuration, or refuses another one, before
            # the nodes below (which take its output) write anything.
            Node(
                check_lake_configuration,
                inputs=["lake", "ingest_window", "params:seed", "params:scale",
                        "params:simulation"],
                outputs="lake_configuration",
                name="check_lake_configuration",
            ),
            Node(
                build_dimensions,
                inputs=["ingest_window", "params:seed", "params:scale", "params:simulation",
                        "lake_configuration", "lake"],
                outputs="raw_dimensions",
                name="land_dimensions",
            ),
            # The Mondays' promotion plans (pure functions of the seed), before the days: the
            # days' output is what the transform waits for.
            Node(
                publish_promotions,
                inputs=["ingest_window", "params:seed", "params:scale", "params:simulation",
                        "params:overwrite", "params:calendar_years_ahead", "lake_configuration"],
                outputs="raw_promotion_plans",
                name="publish_promotion_plans",
            ),
            Node(
                simulate_window,
                inputs=["lake", "ingest_window", "params:seed", "params:scale",
                        "params:simulation", "params:overwrite", "lake_configuration",
                        "raw_promotion_plans"],
                outputs="raw_days",
                name="simulate_and_land_days",
            ),
        ],
        tags=["ingest"],
    )
