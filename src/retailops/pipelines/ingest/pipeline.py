"""Ingest pipeline: validate the window, check (or record) the lake's configuration, land the
dimensions, stream the days into the lake."""

from kedro.pipeline import Node, Pipeline

from retailops.pipelines.ingest.nodes import (
    build_dimensions,
    check_lake_configuration,
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
                        "lake_configuration"],
                outputs="raw_dimensions",
                name="land_dimensions",
            ),
            Node(
                simulate_window,
                inputs=["lake", "ingest_window", "params:seed", "params:scale",
                        "params:simulation", "params:overwrite", "lake_configuration"],
                outputs="raw_days",
                name="simulate_and_land_days",
            ),
        ],
        tags=["ingest"],
    )
