"""Forecast backtest: ``kedro run --pipelines forecast_backtest`` scores every forecaster at rolling
origins against observed sales and the simulation's true demand (``retailops.forecast.backtest``)."""

from retailops.pipelines.forecast_backtest.pipeline import create_pipeline

__all__ = ["create_pipeline"]
