"""The rolling-origin backtest: every forecaster refit and asked to forecast at several past
origins, scored against what was then sold and against the simulation's true demand.

At each origin ``o`` (the last day a forecaster may see) a forecaster is fitted on the history up
to ``o`` (or, with ``refit_every = k``, the model fitted at the latest of every k-th origin is
reused: it still predicts from the history up to ``o``, only its parameters are older) and
forecasts ``o+1 .. o+horizon``. Forecasters only ever receive ``history[date <= o]`` and the
promotion plan as known on ``o``; the truth files are read for scoring only.

The panel scored holds every store × product × target day of the truth (a cell a model did not
forecast counts as a forecast of 0 and is counted in ``missing_forecasts``); the oracle (the
expected demand) is scored the same way, and each model's WAPE is divided by the oracle's at the
same level and against the same actual. ``retailops.forecast.scores`` owns the metrics.

Reconciliation, measured: levels above the bottom are bottom-up sums. ``direct_models`` names
forecasters that are also fitted on store × category series directly (the history summed to
store × category, each pair passed as a pseudo product), and their store × category accuracy is
set beside the bottom-up sum's in ``BacktestResult.reconciliation``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from retailops.errors import InvalidParameterError
from retailops.forecast.scores import (
    AGAINST,
    ORACLE,
    DenseHistory,
    aggregate,
    bias,
    mase,
    score_panel,
    seasonal_naive_scales,
    wape,
)
from retailops.forecast.truth import oracle_forecast

log = logging.getLogger(__name__)

FORECAST_COLUMNS = ("store_id", "product_id", "target_date", "units", "units_p10", "units_p90")


@dataclass(frozen=True)
class BacktestConfig:
    """Where the origins fall and how often models are refit."""

    origins: int = 4
    step_days: int = 7            # days between consecutive origins
    horizon: int = 14
    refit_every: int = 1          # refit at every k-th origin (1: at every origin)
    min_history_days: int = 28    # days of history the first origin must have
    last_day: date | None = None  # last target day scored (default: the history's last day)

    def __post_init__(self) -> None:
        for name in ("origins", "step_days", "horizon", "refit_every", "min_history_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameterError(f"backtest.{name}={value!r} must be a positive integer")
        if self.origins < 4:
            raise InvalidParameterError(
                f"backtest.origins={self.origins}: the backtest needs at least 4 origins")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "BacktestConfig":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known)
        if unknown:
            raise InvalidParameterError(f"unknown backtest parameter(s) {unknown}; "
                                        f"known: {sorted(known)}")
        values = dict(params)
        if values.get("last_day") is not None:
            try:
                values["last_day"] = date.fromisoformat(str(values["last_day"]))
            except ValueError:
                raise InvalidParameterError(
                    f"backtest.last_day={values['last_day']!r} is not a date (YYYY-MM-DD)") from None
        return cls(**values)


def backtest_origins(first_day: date, last_day: date, config: BacktestConfig) -> list[date]:
    """The origins, oldest first: the last one leaves exactly ``horizon`` days to ``last_day``,
    the others ``step_days`` apart before it. One line when the history is too short."""
    last_origin = last_day - timedelta(days=config.horizon)
    origins = [last_origin - timedelta(days=config.step_days * i)
               for i in reversed(range(config.origins))]
    have = (origins[0] - first_day).days + 1
    if have < config.min_history_days:
        needed = (config.min_history_days + config.step_days * (config.origins - 1)
                  + config.horizon)
        raise InvalidParameterError(
            f"the backtest needs {needed} days of history ({config.origins} origins "
            f"{config.step_days} days apart, a {config.horizon}-day horizon, "
            f"{config.min_history_days} days before the first origin); "
            f"{first_day}..{last_day} has {(last_day - first_day).days + 1}")
    return origins


@dataclass
class BacktestResult:
    origins: list[date]
    horizon: int
    forecasts: pd.DataFrame          # origin, model, store_id, product_id, target_date, units, p10, p90
    accuracy: pd.DataFrame           # scores.ACCURACY_COLUMNS
    reconciliation: pd.DataFrame     # model, approach, against, wape, mase, bias (store × category)
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> fit/predict
    missing_forecasts: dict[str, int] = field(default_factory=dict)


def run_backtest(history: pd.DataFrame, truth: pd.DataFrame,
                 forecasters: Mapping[str, Any], plan_for: Callable[[date], pd.DataFrame],
                 context: Any, category_of: pd.Series, config: BacktestConfig,
                 direct_models: tuple[str, ...] = (),
                 direct_context: Any = None,
                 prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                 combinations: Mapping[str, Any] | None = None) -> BacktestResult:
    """Backtest ``forecasters`` (name -> Forecaster) on ``history`` and score them.

    ``combinations``: name -> the forecasters it averages (equal weights), scored as one more
    model (e.g. ``{"lightgbm+intermittent": ["lightgbm", "intermittent"]}``).

    ``truth``: ``read_truth`` rows (``expected_units``, ``demanded_units``) covering every target
    day. ``plan_for(origin)``: the promotion plan as known on that origin. ``category_of``:
    product_id -> category. ``direct_context``: the context for the store × category pseudo
    products (default: ``context``). ``prepare``: applied to the history known at each origin
    before the models see it (e.g. the stock-out censoring marks, which look at runs of days and
    so must be computed from that history alone, never from the whole history).
    """
    missing = [c for c in ("store_id", "product_id", "date", "units") if c not in history]
    if missing:
        raise ValueError(f"the history has no {missing} column(s)")
    dates = pd.to_datetime(history["date"])
    first_day, last_seen = dates.min().date(), dates.max().date()
    last_day = config.last_day or last_seen
    if last_day > last_seen:
        raise InvalidParameterError(
            f"backtest.last_day={last_day} is after the last day of history ({last_seen})")
    # The first origin must hold the history every model asks for (``min_history_days``).
    wanted = max([config.min_history_days, *(int(getattr(f, "min_history_days", 0) or 0)
                                              for f in forecasters.values())])
    origins = backtest_origins(first_day, last_day,
                               dataclasses.replace(config, min_history_days=wanted))
    h = config.horizon

    # Copies: a forecaster's learned state (fitted on other, possibly later, data by an earlier
    # run or by the caller) must not carry into this backtest, nor this backtest's into it.
    given = forecasters
    forecasters = {name: copy.deepcopy(f) for name, f in given.items()}
    forecasts, seconds = _forecast_at_origins(history, dates, forecasters, plan_for, context,
                                              origins, config, prepare)
    combined = combine_forecasts(forecasts, combinations or {})
    truth_window = truth[(truth["date"] > pd.Timestamp(origins[0]))
                         & (truth["date"] <= pd.Timestamp(last_day))]
    oracle = pd.concat([oracle_forecast(truth_window, o, h).assign(origin=pd.Timestamp(o),
                                                                   model=ORACLE)
                        for o in origins], ignore_index=True)
    forecasts = pd.concat([f for f in (forecasts, combined) if len(f)]
                          + [oracle[list(forecasts.columns)]], ignore_index=True)

    panel, missing = _panel(history, dates, truth_window, forecasts, origins, h)
    names = [*forecasters, *dict.fromkeys(combined["model"]), ORACLE]
    dense = DenseHistory.from_history(history[dates <= pd.Timestamp(origins[-1])])
    accuracy = score_panel(panel, names, dense, category_of, h)

    reconciliation = pd.DataFrame(columns=["model", "approach", "against", "wape", "mase", "bias"])
    if direct_models:
        if direct_context is None:
            direct_context = category_context(context)
        reconciliation = _reconciliation(history, dates, panel, dense, given, direct_models,
                                         plan_for, direct_context, category_of, origins, config,
                                         prepare)
    return BacktestResult(origins=origins, horizon=h, forecasts=forecasts, accuracy=accuracy,
                          reconciliation=reconciliation, seconds=seconds,
                          missing_forecasts=missing)


def _forecast_at_origins(history: pd.DataFrame, dates: pd.Series,
                         forecasters: Mapping[str, Any], plan_for: Callable[[date], pd.DataFrame],
                         context: Any, origins: list[date], config: BacktestConfig,
                         prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None
                         ) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    frames = []
    seconds = {name: {"fit": 0.0, "predict": 0.0, "fits": 0} for name in forecasters}
    fitted: dict[str, Any] = {}
    for index, origin in enumerate(origins):
        known = history[dates <= pd.Timestamp(origin)]
        if prepare is not None:
            known = prepare(known)
        plan = plan_for(origin)
        for name, forecaster in forecasters.items():
            if index % config.refit_every == 0 or name not in fitted:
                started = time.perf_counter()
                fitted[name] = forecaster.fit(known, plan, context)
                seconds[name]["fit"] += time.perf_counter() - started
                seconds[name]["fits"] += 1
            started = time.perf_counter()
            predicted = fitted[name].predict(known, origin, config.horizon, plan, context)
            seconds[name]["predict"] += time.perf_counter() - started
            frames.append(_checked(predicted, name, origin, config.horizon)
                          .assign(origin=pd.Timestamp(origin), model=name))
            log.info("backtest: %s forecast %d rows at origin %s", name, len(predicted), origin)
    columns = ["origin", "model", *FORECAST_COLUMNS]
    if not frames:
        return pd.DataFrame(columns=columns), seconds
    return pd.concat(frames, ignore_index=True)[columns], seconds


def combine_forecasts(forecasts: pd.DataFrame, combinations: Mapping[str, Any]) -> pd.DataFrame:
    """Each combination's forecasts: the equal-weight mean of its members' units (and of their
    interval bounds, a rough interval), per origin and cell."""
    keys = ["origin", "store_id", "product_id", "target_date"]
    frames = []
    for name, members in combinations.items():
        members = list(members)
        unknown = [m for m in members if m not in set(forecasts["model"])]
        if len(members) < 2 or unknown:
            raise InvalidParameterError(
                f"backtest.combinations.{name}: needs two or more backtested models "
                f"(unknown: {unknown})" if unknown else
                f"backtest.combinations.{name}: needs two or more models")
        mine = forecasts[forecasts["model"].isin(members)]
        mean = mine.groupby(keys, as_index=False, observed=True)[
            ["units", "units_p10", "units_p90"]].mean()
        frames.append(mean.assign(model=name))
    if not frames:
        return pd.DataFrame(columns=list(forecasts.columns))
    return pd.concat(frames, ignore_index=True)[list(forecasts.columns)]


def _checked(predicted: pd.DataFrame, name: str, origin: date, horizon: int) -> pd.DataFrame:
    """A forecaster's output in the bottom-level shape, its target days within the horizon."""
    missing = [c for c in ("store_id", "product_id", "target_date", "units")
               if c not in predicted.columns]
    if missing:
        raise ValueError(f"forecaster {name} returned no {missing} column(s)")
    out = predicted.copy()
    for column in ("units_p10", "units_p90"):
        if column not in out.columns:
            out[column] = np.nan
    out["target_date"] = pd.to_datetime(out["target_date"])
    first, last = pd.Timestamp(origin) + pd.Timedelta(days=1), pd.Timestamp(origin) + pd.Timedelta(days=horizon)
    outside = (out["target_date"] < first) | (out["target_date"] > last)
    if outside.any():
        raise ValueError(f"forecaster {name} at origin {origin} forecast "
                         f"{out.loc[outside, 'target_date'].iloc[0].date()}, outside "
                         f"{first.date()}..{last.date()}")
    if out.duplicated(["store_id", "product_id", "target_date"]).any():
        raise ValueError(f"forecaster {name} at origin {origin} forecast a cell twice")
    out["store_id"] = out["store_id"].astype(str)
    out["product_id"] = out["product_id"].astype(str)
    return out[list(FORECAST_COLUMNS)]


class _CellIndex:
    """Integer keys for store × product × day, so frames align by hashing one int64."""

    def __init__(self, truth: pd.DataFrame):
        self.stores = pd.Index(np.sort(truth["store_id"].astype(str).unique()))
        self.products = pd.Index(np.sort(truth["product_id"].astype(str).unique()))

    def keys(self, store_id: pd.Series, product_id: pd.Series, day: pd.Series) -> np.ndarray:
        s = self.stores.get_indexer(store_id.astype(str))
        p = self.products.get_indexer(product_id.astype(str))
        d = pd.to_datetime(day).to_numpy(dtype="datetime64[D]").astype(np.int64)
        cell = s.astype(np.int64) * len(self.products) + p
        return np.where((s < 0) | (p < 0), -1, cell * 1_000_000 + d)


def _panel(history: pd.DataFrame, dates: pd.Series, truth: pd.DataFrame, forecasts: pd.DataFrame,
           origins: list[date], horizon: int) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per origin × store × product × target day of the truth, with the observed units,
    the true demand and every model's forecast as columns."""
    cells = _CellIndex(truth)
    after = history[dates > pd.Timestamp(origins[0])]
    observed = pd.Series(after["units"].to_numpy(dtype=float),
                         index=cells.keys(after["store_id"], after["product_id"], after["date"]))
    observed = observed[observed.index >= 0].groupby(level=0).sum()
    parts = []
    missing: dict[str, int] = {}
    models = list(dict.fromkeys(forecasts["model"]))
    for origin in origins:
        first = pd.Timestamp(origin) + pd.Timedelta(days=1)
        last = pd.Timestamp(origin) + pd.Timedelta(days=horizon)
        rows = truth[(truth["date"] >= first) & (truth["date"] <= last)]
        keys = cells.keys(rows["store_id"], rows["product_id"], rows["date"])
        part = pd.DataFrame({
            "origin": pd.Timestamp(origin),
            "store_id": rows["store_id"].to_numpy(), "product_id": rows["product_id"].to_numpy(),
            "target_date": rows["date"].to_numpy(),
            "observed_units": observed.reindex(keys).fillna(0.0).to_numpy(),
            "demanded_units": rows["demanded_units"].to_numpy(dtype=float),
        })
        at_origin = forecasts[forecasts["origin"] == pd.Timestamp(origin)]
        for model in models:
            mine = at_origin[at_origin["model"] == model]
            units = pd.Series(mine["units"].to_numpy(dtype=float),
                              index=cells.keys(mine["store_id"], mine["product_id"],
                                               mine["target_date"]))
            aligned = units.reindex(keys)
            missing[model] = missing.get(model, 0) + int(aligned.isna().sum())
            part[model] = aligned.fillna(0.0).to_numpy()
        parts.append(part)
    for model, count in missing.items():
        if count:
            log.warning("backtest: %s left %d store × product × day cell(s) unforecast "
                        "(scored as 0)", model, count)
    return pd.concat(parts, ignore_index=True), missing


def store_category_history(history: pd.DataFrame, category_of: pd.Series) -> pd.DataFrame:
    """The history summed to store × category, each category passed as a pseudo product_id
    (``store_id``, ``product_id`` = category, ``date``, ``units``)."""
    category = history["product_id"].astype(str).map(category_of)
    summed = (history.assign(product_id=category)
              .groupby(["store_id", "product_id", "date"], as_index=False, observed=True)["units"]
              .sum())
    return summed


def category_context(context: Any) -> Any:
    """The context for store × category pseudo products: one "product" per category, its list
    price the category's mean (stores and calendar unchanged)."""
    products = getattr(context, "products", None)
    if products is None:
        return context
    by_category = (products.groupby("category", as_index=False)
                   .agg(list_price=("list_price", "mean")))
    by_category.insert(0, "product_id", by_category["category"].astype(str))
    return dataclasses.replace(context, products=by_category)


def _reconciliation(history: pd.DataFrame, dates: pd.Series, panel: pd.DataFrame,
                    dense: DenseHistory, forecasters: Mapping[str, Any],
                    direct_models: tuple[str, ...], plan_for: Callable[[date], pd.DataFrame],
                    context: Any, category_of: pd.Series, origins: list[date],
                    config: BacktestConfig,
                    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None) -> pd.DataFrame:
    """Store × category accuracy of each model's bottom-up sum beside the same model fitted
    directly on store × category series."""
    unknown = [m for m in direct_models if m not in forecasters]
    if unknown:
        raise InvalidParameterError(f"backtest.direct_models names unknown model(s) {unknown}")
    level = "store_category"
    values = list(AGAINST.values()) + list(direct_models)
    summed = aggregate(panel, level, category_of, values)
    scales = seasonal_naive_scales(dense, origins, level, category_of)
    summed = summed.merge(scales, on=["origin", "level_key"], how="left")

    aggregated = store_category_history(history, category_of)
    agg_dates = pd.to_datetime(aggregated["date"])
    # A fresh instance per model: the bottom-level fit must not be overwritten. The plan is
    # per product, so the pseudo products (categories) see none.
    direct, _ = _forecast_at_origins(aggregated, agg_dates,
                                     {m: copy.deepcopy(forecasters[m]) for m in direct_models},
                                     lambda origin: None, context, origins, config, prepare)
    direct = direct.assign(level_key=direct["store_id"].astype(str) + "|"
                           + direct["product_id"].astype(str))
    rows = []
    for model in direct_models:
        mine = direct[direct["model"] == model][["origin", "level_key", "target_date", "units"]]
        both = summed.merge(mine, on=["origin", "level_key", "target_date"], how="left")
        both["units"] = both["units"].fillna(0.0)
        scale = both["scale"].fillna(0.0).to_numpy()
        for against, column in AGAINST.items():
            actual = both[column].to_numpy()
            for approach, forecast in (("bottom_up", both[model].to_numpy()),
                                       ("direct", both["units"].to_numpy())):
                rows.append({"model": model, "approach": approach, "against": against,
                             "wape": wape(actual, forecast), "mase": mase(actual, forecast, scale),
                             "bias": bias(actual, forecast)})
    return pd.DataFrame(rows)



# --- where a backtest is kept ------------------------------------------------------------------

def accuracy_file(backtest_date: date) -> str:
    """The accuracy table of a backtest (Hive partition ``backtest_date``, not repeated inside)."""
    return f"curated/forecast_accuracy/backtest_date={backtest_date.isoformat()}/accuracy.parquet"


def details_folder(backtest_date: date) -> str:
    """The backtest's forecasts, reconciliation table and summary (metadata, not a mart)."""
    return f"metadata/backtests/backtest_date={backtest_date.isoformat()}"


def write_backtest(lake: Any, result: BacktestResult, backtest_date: date,
                   summary: Mapping[str, Any]) -> dict[str, str]:
    """Write the accuracy table (curated) and the forecasts, reconciliation and summary
    (metadata) through the lake; returns the lake-relative paths written."""
    import io
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from retailops.forecast.scores import ACCURACY_COLUMNS

    def parquet(frame: pd.DataFrame, schema: pa.Schema | None = None) -> bytes:
        buffer = io.BytesIO()
        table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        pq.write_table(table, buffer, compression="zstd")
        return buffer.getvalue()

    accuracy_schema = pa.schema([("model", pa.string()), ("level", pa.string()),
                                 ("against", pa.string()), ("origins", pa.int32()),
                                 ("horizon_days", pa.int32()), ("wape", pa.float64()),
                                 ("mase", pa.float64()), ("bias", pa.float64()),
                                 ("oracle_wape", pa.float64()),
                                 ("wape_ratio_to_oracle", pa.float64())])
    forecasts = result.forecasts.assign(
        origin=result.forecasts["origin"].dt.date,
        target_date=result.forecasts["target_date"].dt.date,
        model=result.forecasts["model"].astype("category"),
        store_id=result.forecasts["store_id"].astype("category"),
        product_id=result.forecasts["product_id"].astype("category"))
    paths = {"accuracy": accuracy_file(backtest_date),
             "forecasts": f"{details_folder(backtest_date)}/forecasts.parquet",
             "reconciliation": f"{details_folder(backtest_date)}/reconciliation.parquet",
             "summary": f"{details_folder(backtest_date)}/summary.json"}
    # details first, the accuracy table last: a reader that finds the table finds the rest
    lake.write_bytes(paths["forecasts"], parquet(forecasts))
    lake.write_bytes(paths["reconciliation"], parquet(result.reconciliation))
    lake.write_bytes(paths["summary"], json.dumps(dict(summary), indent=1, default=str).encode())
    lake.write_bytes(paths["accuracy"],
                     parquet(result.accuracy[list(ACCURACY_COLUMNS)], accuracy_schema))
    return paths


def summary_of(result: BacktestResult, config: BacktestConfig, seconds: float) -> dict[str, Any]:
    """What a run log, MLflow and the benchmark print: origins, timings, the headline ratios."""
    accuracy = result.accuracy
    headline = {}
    for level in ("store_product", "store_category"):
        rows = accuracy[(accuracy["level"] == level) & (accuracy["against"] == "true_demand")]
        headline[level] = {r.model: {"wape": r.wape, "ratio": r.wape_ratio_to_oracle,
                                     "bias": r.bias} for r in rows.itertuples()}
    return {"origins": [o.isoformat() for o in result.origins], "horizon_days": result.horizon,
            "step_days": config.step_days, "refit_every": config.refit_every,
            "seconds": round(seconds, 2), "model_seconds": result.seconds,
            "missing_forecasts": result.missing_forecasts, "true_demand": headline}


def headline_lines(result: BacktestResult) -> list[str]:
    """One line per model: WAPE against true demand and its ratio to the oracle at
    store × product and store × category, and the bias against true demand."""
    accuracy = result.accuracy[result.accuracy["against"] == "true_demand"]
    lines = []
    for model in dict.fromkeys(accuracy["model"]):
        mine = accuracy[accuracy["model"] == model].set_index("level")
        parts = [f"{level} WAPE {mine.at[level, 'wape']:.3f} "
                 f"({mine.at[level, 'wape_ratio_to_oracle']:.2f}x oracle)"
                 for level in ("store_product", "store_category") if level in mine.index]
        bias_value = mine["bias"].iloc[0]
        lines.append(f"{model}: {', '.join(parts)}, bias {bias_value:+.1%} vs true demand "
                     f"({len(result.origins)} origins, {result.horizon}-day horizon)")
    return lines


def log_to_mlflow(summary: Mapping[str, Any], accuracy: pd.DataFrame,
                  reconciliation: pd.DataFrame, params: Mapping[str, Any],
                  tracking_uri: str, experiment: str) -> str:
    """One MLflow run per backtest: its parameters, a metric per model × level × against
    (``<model>.<level>.<against>.<wape|mase|bias|ratio>``), and the tables as artifacts.
    Returns the run id."""
    import tempfile
    from pathlib import Path

    import mlflow

    from retailops.forecast.tracking import open_experiment

    open_experiment(tracking_uri, experiment)
    with mlflow.start_run(run_name=f"backtest {summary.get('backtest_date')}") as run:
        flat = {"origins": len(summary["origins"]), "first_origin": summary["origins"][0],
                "last_origin": summary["origins"][-1], "horizon_days": summary["horizon_days"],
                "step_days": summary["step_days"], "refit_every": summary["refit_every"],
                "backtest_date": summary.get("backtest_date")}
        flat.update({f"model.{k}": v for k, v in _flatten(params).items()})
        mlflow.log_params({k: str(v)[:500] for k, v in flat.items()})
        metrics = {"seconds": float(summary["seconds"])}
        for row in accuracy.itertuples():
            stem = f"{row.model}.{row.level}.{row.against}"
            for name, value in (("wape", row.wape), ("mase", row.mase), ("bias", row.bias),
                                ("ratio", row.wape_ratio_to_oracle)):
                if value is not None and np.isfinite(value):
                    metrics[f"{stem}.{name}"] = float(value)
        for model, times in summary.get("model_seconds", {}).items():
            metrics[f"{model}.fit_seconds"] = float(times["fit"])
            metrics[f"{model}.predict_seconds"] = float(times["predict"])
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as folder:
            accuracy.to_csv(Path(folder) / "accuracy.csv", index=False)
            reconciliation.to_csv(Path(folder) / "reconciliation.csv", index=False)
            import json

            (Path(folder) / "summary.json").write_text(json.dumps(dict(summary), indent=1,
                                                                  default=str))
            mlflow.log_artifacts(folder)
        return run.info.run_id


def _flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
