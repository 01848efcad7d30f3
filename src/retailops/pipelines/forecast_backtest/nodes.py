"""Thin nodes of the forecast backtest: read the marts and the truth, backtest, write, track."""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import timedelta
from typing import Any

from retailops.lake.storage import Lake

log = logging.getLogger(__name__)

# Keys of params:backtest that are not BacktestConfig fields.
_RUN_KEYS = ("history_days", "models", "direct_models", "combinations", "mlflow")


def backtest_forecasters(lake: Lake, warehouse: Any, forecast_params: dict,
                         backtest_params: dict) -> dict:
    """Backtest the forecast models on the marts' history; write the accuracy table to
    ``curated/forecast_accuracy/backtest_date=<last day>/`` and the details under
    ``metadata/backtests/``. Returns the run's summary."""
    # Imported here: the registry builds every stage's pipeline on a plain `kedro run`, and the
    # models pull in scipy/statsforecast/lightgbm.
    from retailops.forecast import backtest as bt
    from retailops.forecast.censoring import CensoringRule, mark_censoring
    from retailops.forecast.data import (WarehouseMarts, history_window, load_context,
                                         load_history)
    from retailops.forecast.models import forecasters
    from retailops.forecast.truth import read_truth
    from retailops.lake.promotions import read_plan

    started = time.perf_counter()
    params = dict(backtest_params or {})
    run = {k: params.pop(k, None) for k in _RUN_KEYS}
    config = bt.BacktestConfig.from_params(params)
    reader = WarehouseMarts(warehouse)
    context = load_context(reader)
    model_params = dict(forecast_params or {})
    if run["models"]:
        model_params["models"] = list(run["models"])
    models = forecasters(model_params)
    # Stock-out marks are computed at each origin from the history known then (as the forecast
    # stage computes them on its own history), never from the whole history.
    rule = CensoringRule(**dict(model_params.get("censoring") or {}))
    before_first = max([config.min_history_days, *(int(getattr(m, "min_history_days", 0) or 0)
                                                    for m in models.values())])
    needed = before_first + config.step_days * (config.origins - 1) + config.horizon
    # the days before the first origin the models may learn from, plus the days scored
    window = (int(run["history_days"] or 365) + config.step_days * (config.origins - 1)
              + config.horizon)
    first, last = history_window(reader, window, last=config.last_day, needed=needed)
    history = load_history(reader, first, last, context)
    origins = bt.backtest_origins(first, last,
                                  dataclasses.replace(config, min_history_days=before_first))
    truth = read_truth(lake, origins[0] + timedelta(days=1), last)
    result = bt.run_backtest(history, truth, models, lambda origin: read_plan(lake, origin),
                             context, context.category_of(), config,
                             direct_models=tuple(run["direct_models"] or ()),
                             combinations=dict(run["combinations"] or {}),
                             # ``known`` is the backtest's own slice: marked in place.
                             prepare=lambda known: mark_censoring(known, rule, copy=False))
    summary = bt.summary_of(result, config, time.perf_counter() - started)
    summary["backtest_date"] = last.isoformat()
    summary["history"] = {"first_day": first.isoformat(), "last_day": last.isoformat(),
                          "rows": len(history)}
    summary["paths"] = bt.write_backtest(lake, result, last, summary)
    for line in bt.headline_lines(result):
        log.info("backtest: %s", line)
    return summary


def track_backtest(lake: Lake, summary: dict, forecast_params: dict,
                   backtest_params: dict) -> dict:
    """Log the backtest to MLflow (``params:backtest.mlflow``): parameters, a metric per model ×
    level × against, and the accuracy table, reconciliation and summary as artifacts."""
    import io

    import pandas as pd

    from retailops.forecast import backtest as bt

    options = dict((backtest_params or {}).get("mlflow") or {})
    if not options.get("tracking_uri"):
        log.info("backtest: MLflow tracking off (backtest.mlflow.tracking_uri is empty)")
        return {"run_id": None}
    paths = summary["paths"]
    accuracy = pd.read_parquet(io.BytesIO(lake.read_bytes(paths["accuracy"])))
    reconciliation = pd.read_parquet(io.BytesIO(lake.read_bytes(paths["reconciliation"])))
    from retailops.forecast.tracking import prepare_store

    run_id = bt.log_to_mlflow(summary, accuracy, reconciliation,
                              {"forecast": forecast_params, "backtest": backtest_params},
                              prepare_store(options["tracking_uri"]),
                              options.get("experiment", "forecast_backtest"))
    log.info("backtest: tracked as MLflow run %s in %s", run_id, options["tracking_uri"])
    return {"run_id": run_id, "tracking_uri": options["tracking_uri"]}
