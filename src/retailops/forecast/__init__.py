"""Demand forecasting as a library (no Kedro imports): history from the marts, censoring,
models, aggregate levels and versioned model artifacts. See ``forecast.frames`` for the frames
the parts exchange."""
