"""Forecast pipeline: marts + promotion plan -> trained/loaded models -> the forecast marts,
then the trainings tracked in MLflow."""

from kedro.pipeline import Node, Pipeline

from retailops.pipelines.forecast.checks import check_forecast_marts, require_validated_marts
from retailops.pipelines.forecast.nodes import forecast_demand, track_training


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            # The warehouse, not the readers' serving file: publish (which writes that file)
            # comes after the forecast in the daily run, so it exposes the new forecast. Only
            # once validated (S; see checks.py), which also orders it after validate.
            Node(require_validated_marts, inputs=["run_report", "warehouse"],
                 outputs="validated_warehouse", name="require_validated_marts"),
            Node(forecast_demand, inputs=["validated_warehouse", "lake", "params:forecast"],
                 outputs="forecast_run_summary", name="forecast_demand"),
            Node(track_training, inputs=["forecast_run_summary", "params:forecast"],
                 outputs="forecast_training_tracking", name="track_forecast_training"),
            # The forecast source's dbt tests over the date written (S; see checks.py).
            Node(check_forecast_marts,
                 inputs=["forecast_run_summary", "params:dbt", "lake", "warehouse"],
                 outputs="forecast_marts", name="check_forecast_marts"),
        ],
        tags=["forecast"],
    )
