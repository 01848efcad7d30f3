"""Forecast pipeline: marts + promotion plan -> trained/loaded models -> the forecast marts,
then the trainings tracked in MLflow."""

from kedro.pipeline import Node, Pipeline

from retailops.pipelines.forecast.nodes import forecast_demand, track_training


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(forecast_demand, inputs=["serving_warehouse", "lake", "params:forecast"],
                 outputs="forecast_run_summary", name="forecast_demand"),
            Node(track_training, inputs=["forecast_run_summary", "params:forecast"],
                 outputs="forecast_training_tracking", name="track_forecast_training"),
        ],
        tags=["forecast"],
    )
