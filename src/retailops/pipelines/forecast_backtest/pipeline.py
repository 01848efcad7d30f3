"""Forecast backtest pipeline: backtest and write the scores, then track the run in MLflow."""

from kedro.pipeline import Node, Pipeline

from retailops.pipelines.forecast_backtest.nodes import backtest_forecasters, track_backtest


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(backtest_forecasters,
                 inputs=["lake", "serving_warehouse", "params:forecast", "params:backtest"],
                 outputs="forecast_backtest_summary", name="backtest_forecasters"),
            Node(track_backtest,
                 inputs=["lake", "forecast_backtest_summary", "params:forecast",
                         "params:backtest"],
                 outputs="forecast_backtest_tracking", name="track_backtest"),
        ],
        tags=["forecast", "forecast_backtest"],
    )
