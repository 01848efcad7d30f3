"""Thin nodes of the forecast stage; the work is in ``retailops.forecast.run``.

Heavy imports (scipy, statsforecast, lightgbm, mlflow) happen inside the nodes: the registry
builds every stage's pipeline on a plain ``kedro run``.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from retailops.lake.storage import Lake

log = logging.getLogger(__name__)


def _reader(warehouse: Any, lake: Lake, params: dict):
    from retailops.forecast.data import ParquetMarts, WarehouseMarts

    source = params.get("source", "warehouse")
    if source == "parquet":
        return ParquetMarts(lake)
    if source == "warehouse":
        return WarehouseMarts(warehouse)
    from retailops.errors import InvalidParameterError

    raise InvalidParameterError(f"forecast.source: {source!r} is not warehouse or parquet")


def forecast_demand(warehouse: Any, lake: Lake, params: dict) -> dict:
    """Train the due models (or load the newest), predict, write both forecast marts. With too
    little history: one line, and exit 2 unless ``forecast.when_history_short`` is ``skip``."""
    import time

    started = time.perf_counter()
    from retailops.forecast.prefetch import Prefetch, modules_for

    # LightGBM, lleaves and scipy.stats imported on a thread while the history is read (see
    # forecast/prefetch.py); joined before the models are loaded, and on any way out.
    with Prefetch(modules_for(params)) as prefetch:
        from retailops.forecast import run
        from retailops.forecast.data import InsufficientHistoryError
        from retailops.lake.promotions import read_plan

        run.model_threads(params)  # a bad value stops the step before the read
        seconds: dict[str, float] = {}
        last_day = params.get("last_day")
        if last_day is not None:
            last_day = date.fromisoformat(str(last_day))
        reader = _reader(warehouse, lake, params)
        force = bool(params.get("retrain", False))
        days, why = run.days_to_load(lake, reader, params, last=last_day, force=force)
        log.info("forecast: loading %d days of history (%s)", days, why)
        try:
            inputs = run.gather_inputs(reader, lambda day: read_plan(lake, day), params,
                                       last=last_day, days=days)
        except InsufficientHistoryError as exc:
            if params.get("when_history_short", "fail") == "skip":
                log.warning("forecast skipped: %s", exc)
                return {"skipped": str(exc)}
            raise

        def lap(part: str) -> None:
            # Where a run's time goes (the benchmark reports it: issue 12's daily-prediction
            # target).
            seconds[part] = round(time.perf_counter() - started - sum(seconds.values()), 2)

        lap("read_history")
        prefetch.wait()
    runs = run.train_or_load(lake, inputs, params, force=force)
    lap("train_or_load_models")
    # The bottom mart (3M rows at scale 1) is encoded to Parquet on a thread while the levels
    # are computed (pyarrow's writer runs outside the GIL); both marts are written to the lake
    # only once the prediction succeeded, as before. "write_marts" is what is left of it.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="forecast-encode") as encoder:
        pending = []
        bottom, level_rows = run.predict(
            inputs, runs, params, on_bottom=lambda rows: pending.append(
                encoder.submit(run.encode_mart, "fct_demand_forecast", rows)))
        lap("predict")
        encoded = (pending[0].result() if pending
                   else run.encode_mart("fct_demand_forecast", bottom))
    written = run.write_encoded(lake, encoded)
    written += run.write_mart(lake, "fct_demand_forecast_levels", level_rows)
    lap("write_marts")
    for name, model_run in runs.items():
        log.info("forecast: %s %s (%s), predicted in %.1f s", name, model_run.stored.version,
                 "trained" if model_run.trained else "loaded",
                 model_run.metrics.get("predict_seconds", 0.0))
    return {"forecast_date": inputs.last.isoformat(), "files": written,
            "history": {"first_day": inputs.first.isoformat(), "last_day": inputs.last.isoformat(),
                        "days_asked": days, "why": why},
            "models": {name: {"version": r.stored.version, "trained": r.trained,
                              "reason": r.reason, "metrics": r.metrics,
                              "training": r.stored.training if r.trained else None}
                       for name, r in runs.items()},
            "seconds": seconds}


def track_training(summary: dict, params: dict) -> dict:
    """Log each model trained by this run to MLflow (``forecast.mlflow``; empty tracking_uri
    turns tracking off)."""
    options = dict(params.get("mlflow") or {})
    trained = {n: m for n, m in (summary.get("models") or {}).items() if m["trained"]}
    if not trained or not options.get("tracking_uri"):
        return {"runs": {}}
    from retailops.forecast.tracking import log_training

    runs = {}
    for name, model in trained.items():
        record = {**model["training"], "metrics": {**model["training"].get("metrics", {}),
                                                   **model["metrics"]}}
        runs[name] = log_training(name, model["version"], record, options["tracking_uri"],
                                  options.get("experiment", "forecast_training"))
        log.info("forecast: training of %s tracked as MLflow run %s", name, runs[name])
    return {"runs": runs, "tracking_uri": options["tracking_uri"]}
