"""The forecast stage as library functions: gather the inputs, train the models that are due
(or load the newest stored version), predict the next days, shape the two forecast marts.

The Kedro nodes (``retailops.pipelines.forecast``) only call these.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from retailops.errors import InvalidParameterError
from retailops.forecast import artifacts, frames as F, levels
from retailops.forecast.censoring import PROFILE_DAYS, CensoringRule, mark_censoring
from retailops.forecast.data import (InsufficientHistoryError, MartReader, fingerprint,
                                     history_window, load_context, load_history)
from retailops.forecast.models import forecasters
from retailops.lake.storage import Lake

log = logging.getLogger(__name__)

# Days held out at training to calibrate each level's interval (forecast.levels.calibrate).
CALIBRATION_DAYS = 14


@dataclass
class ForecastInputs:
    history: pd.DataFrame           # dense, with the censoring columns
    context: F.ForecastContext
    plan: pd.DataFrame | None       # the promotion plan as known on ``last``
    first: date
    last: date
    # Set when the chain is predicted a block of stores at a time (forecast.blocks): the
    # history above is then the training sample only, and predict reads the blocks itself.
    reader: Any = None


@dataclass
class ModelRun:
    name: str
    forecaster: Any
    stored: artifacts.StoredModel
    trained: bool
    reason: str
    metrics: dict = field(default_factory=dict)


def needed_days(params: Mapping[str, Any]) -> int:
    """Days of sales the configured models need: the longest model lookback, plus the
    fortnight held out to calibrate the intervals."""
    models = forecasters(params)
    return max(int(getattr(m, "min_history_days", 28)) for m in models.values()) + CALIBRATION_DAYS


def predict_days(params: Mapping[str, Any]) -> int:
    """Days of sales a predict-only run loads: the longest lookback a configured model predicts
    from (``lookback_days``), plus a margin so that the stock-out marks of those days come out
    as they do on the full history: ``predict_margin_days``, by default twice the censoring
    rule's rate window and a week (a zero run is judged by the selling rate of the window
    before it, and an imputed day by the usable days of the window before it)."""
    models = forecasters(params)
    lookback = max(int(getattr(m, "lookback_days", getattr(m, "min_history_days", 28)))
                   for m in models.values())
    margin = params.get("predict_margin_days")
    if margin is None:
        rule = CensoringRule(**dict(params.get("censoring") or {}))
        margin = 2 * rule.rate_window_days + 7
    # The imputation's weekday profile is measured over the last PROFILE_DAYS.
    return max(lookback + int(margin), PROFILE_DAYS)


def days_to_load(lake: Lake, reader: MartReader, params: Mapping[str, Any],
                 last: date | None = None, force: bool = False) -> tuple[int, str]:
    """How many days of history this run loads, and why: ``history_days`` when any model is
    due for training (or ``force``), else only ``predict_days`` (a day that only predicts
    reads about 140 days, not a year)."""
    full = int(params.get("history_days", 364))
    found = reader.sales_days()
    if found is None:
        return full, "no sales yet"
    end = min(last or found[1], found[1])
    for name in forecasters(params):
        due, reason = artifacts.is_due(artifacts.latest(lake, name), end,
                                       int(params.get("retrain_weekday", 0)),
                                       int(params.get("max_model_age_days", 7)))
        if force or due:
            return full, f"{name}: {'retraining requested' if force else reason}"
    return min(full, predict_days(params)), "every model is stored and fresh: predict only"


def gather_inputs(reader: MartReader, read_plan: Callable[[date], pd.DataFrame] | None,
                  params: Mapping[str, Any], last: date | None = None,
                  days: int | None = None) -> ForecastInputs:
    """History (censoring marked), dimensions and the plan known on the last day of history:
    the last ``days`` days (default ``history_days``). Raises ``InsufficientHistoryError``
    (one line) when the marts hold too few days."""
    days = int(params.get("history_days", 364)) if days is None else int(days)
    first, last = history_window(reader, days, last=last, needed=needed_days(params))
    context = load_context(reader)
    from retailops.forecast import blocks

    stores, chunked = None, blocks.blocked(context, params)
    if chunked:
        # A chain predicted in blocks loads here only what a training reads (a sample of its
        # stores; one store on a day that only predicts): predict reads the blocks.
        stores = (blocks.training_stores(context, params) if days > predict_days(params)
                  else context.stores["store_id"].astype(str).tolist()[:1])
    history = load_history(reader, first, last, context, stores=stores)
    # The history was just loaded and is this run's own: marked in place, not copied (175
    # days at scale 1 are 12.6M rows).
    history = mark_censoring(history, CensoringRule(**dict(params.get("censoring") or {})),
                             copy=False)
    plan = read_plan(last) if read_plan is not None else None
    log.info("forecast: history %s..%s, %d store x product series, %.1f%% of days censored",
             first, last, len(history) // ((last - first).days + 1),
             100 * history[F.CENSORED].mean())
    return ForecastInputs(history, context, plan, first, last, reader if chunked else None)


def train(name: str, forecaster: Any, inputs: ForecastInputs, params: Mapping[str, Any]
          ) -> tuple[Any, dict]:
    """Fit on the history up to 14 days before its end; calibrate every level's interval on
    those last 14 days (predicted from the days before them, so the errors are out of sample).

    One fit, not a calibration fit and a refit: the stored model has seen targets up to a
    fortnight before its training date, and it predicts from all history up to each origin
    (its lags and levels are computed at the origin), so the fortnight is not lost to it."""
    started = time.perf_counter()
    holdout_origin = pd.Timestamp(inputs.last) - pd.Timedelta(days=CALIBRATION_DAYS)
    before = inputs.history[inputs.history[F.DATE] <= holdout_origin]
    forecaster.fit(before, inputs.plan, inputs.context)
    fit_seconds = time.perf_counter() - started
    calibrating = time.perf_counter()
    forecaster.dispersion = levels.calibrate(forecaster, inputs.history, inputs.plan,
                                             inputs.context, CALIBRATION_DAYS)
    metrics = {"fit_seconds": round(fit_seconds, 2),
               "calibration_seconds": round(time.perf_counter() - calibrating, 2),
               "train_seconds": round(time.perf_counter() - started, 2),
               "censored_share": float(inputs.history[F.CENSORED].mean()),
               "targets_until": str((holdout_origin).date())}
    for level, (a, phi) in forecaster.dispersion.items():
        metrics[f"dispersion_a_{level}"], metrics[f"dispersion_phi_{level}"] = a, phi
    return forecaster, metrics


def train_or_load(lake: Lake, inputs: ForecastInputs, params: Mapping[str, Any],
                  force: bool = False) -> dict[str, ModelRun]:
    """Every configured model: trained and stored when due (or ``force``), else the newest
    stored version loaded."""
    out: dict[str, ModelRun] = {}
    for name, fresh in forecasters(params).items():
        stored = artifacts.latest(lake, name)
        due, reason = artifacts.is_due(stored, inputs.last, int(params.get("retrain_weekday", 0)),
                                       int(params.get("max_model_age_days", 7)))
        if force and not due:
            due, reason = True, "retraining requested"
        if not due:
            log.info("forecast: %s not retrained (%s)", name, reason)
            out[name] = ModelRun(name, artifacts.load(lake, stored), stored, False, reason)
            _compile(out[name], lake, params)
            continue
        log.info("forecast: training %s (%s)", name, reason)
        forecaster, metrics = train(name, fresh, inputs, params)
        record = {"window": {"first_day": inputs.first.isoformat(),
                             "last_day": inputs.last.isoformat(),
                             "days": (inputs.last - inputs.first).days + 1},
                  "parameters": {k: v for k, v in params.items()
                                 if k in (name, "censoring", "history_days")},
                  "metrics": metrics,
                  "data_fingerprint": fingerprint(inputs.history),
                  "series": int(len(inputs.history) // ((inputs.last - inputs.first).days + 1)),
                  "reason": reason,
                  "details": getattr(forecaster, "training", {})}
        stored = artifacts.save(lake, name, forecaster, record)
        out[name] = ModelRun(name, forecaster, stored, True, reason, metrics)
        _compile(out[name], lake, params)
    return out


def _compile(model_run: ModelRun, lake: Lake, params: Mapping[str, Any]) -> None:
    """A model that can predict from compiled code (LightGBM's trees, ``gbm.use_compiled``)
    does so, its object kept beside its stored version: compiled on the day it is trained,
    loaded on the days that only predict. ``forecast.compiled_trees: false`` keeps LightGBM's
    own predictor (the same numbers)."""
    if params.get("compiled_trees", True) and hasattr(model_run.forecaster, "use_compiled"):
        model_run.forecaster.use_compiled(
            artifacts.VersionFiles(lake, model_run.stored, "compiled"))


def predict(inputs: ForecastInputs, runs: Mapping[str, ModelRun], params: Mapping[str, Any],
            on_bottom: Callable[[pd.DataFrame], None] | None = None
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both marts' rows for the forecast date (the last day of history): every model's bottom
    level, and the aggregate levels of the production model. ``on_bottom``: called with the
    bottom mart's rows as soon as they are complete, before the levels are computed (the stage
    starts writing them there, beside the levels)."""
    if inputs.reader is not None:
        from retailops.forecast.blocks import predict_blocked

        inputs.history = None  # the training sample: freed before the blocks are read
        return predict_blocked(inputs.reader, inputs.first, inputs.last, inputs.context,
                               inputs.plan, runs, params)
    horizon = int(params.get("horizon_days", 14))
    production = params.get("production_model", "lightgbm")
    combinations = {name: list(members)
                    for name, members in dict(params.get("combinations") or {}).items()}
    level_frames = []
    bottoms = predict_models(inputs, runs, horizon, model_threads(params))
    dispersions = {name: getattr(run.forecaster, "dispersion", {}) for name, run in runs.items()}
    versions = {name: run.stored.version for name, run in runs.items()}
    for name, members in combinations.items():
        missing = [m for m in members if m not in bottoms]
        if len(members) < 2 or missing:
            raise ValueError(f"forecast.combinations.{name}: needs two or more of the "
                             f"forecast.models ({', '.join(runs)}); not there: {missing}")
        bottoms[name], dispersions[name] = combine(bottoms, dispersions, members)
        versions[name] = "+".join(versions[m] for m in members)
    if production not in bottoms:
        raise ValueError(f"forecast.production_model {production!r} is not one of the "
                         f"forecast.models or forecast.combinations ({', '.join(bottoms)})")
    forecast_date = pd.Timestamp(inputs.last)
    bottom = bottom_mart_rows(bottoms, versions, forecast_date)
    if on_bottom is not None:
        on_bottom(bottom)
    for name, rows in bottoms.items():
        if name == production:
            level_frames.append(levels.level_forecast(rows, inputs.context, name,
                                                      dispersions[name]))
    level_rows = pd.concat(level_frames, ignore_index=True).assign(forecast_date=forecast_date)
    for column in (F.UNITS, F.P10, F.P90):
        level_rows[column] = level_rows[column].astype(np.float64)
    return bottom, level_rows


def model_threads(params: Mapping[str, Any]) -> int:
    """``forecast.model_threads``: how many models predict at the same time (1: one after
    another); anything but a positive integer is refused in one line."""
    value = params.get("model_threads", 2)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameterError(f"forecast.model_threads={value!r} must be a positive "
                                    "integer (1: the models predict one after another)")
    return value


def predict_models(inputs: ForecastInputs, runs: Mapping[str, ModelRun], horizon: int,
                   threads: int = 2) -> dict[str, pd.DataFrame]:
    """Every model's bottom forecast, by model in ``runs``' order. With ``threads`` > 1 the
    models predict at the same time on that many threads, the slowest first (LightGBM, whose
    compiled trees run outside the GIL on their own threads, beside the numpy models: each model
    only reads the history, the plan and the context). Each model's forecast is the one it
    makes alone (``tests/forecast/test_predict_threads.py``); its ``predict_seconds`` is then
    its own wall time, overlapping the others'."""
    def one(name: str) -> pd.DataFrame:
        started = time.perf_counter()
        out = runs[name].forecaster.predict(inputs.history, inputs.last, horizon, inputs.plan,
                                            inputs.context)
        runs[name].metrics["predict_seconds"] = round(time.perf_counter() - started, 2)
        return out

    names = list(runs)
    threads = max(1, min(int(threads), len(names)))
    if threads == 1:
        return {name: one(name) for name in names}
    from concurrent.futures import ThreadPoolExecutor

    # LightGBM first: the others (a fraction of its time) share the second thread.
    order = sorted(names, key=lambda n: n != "lightgbm")
    with ThreadPoolExecutor(threads, thread_name_prefix="forecast-model") as pool:
        futures = {name: pool.submit(one, name) for name in order}
        return {name: futures[name].result() for name in names}


def _text_categorical(values: pd.Series) -> pd.Categorical:
    """A text column as a categorical of its values as text."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = values.array
    else:
        cat = pd.Categorical(values.to_numpy(dtype=object))
    return cat.rename_categories(cat.categories.astype(str))


def bottom_mart_rows(bottoms: Mapping[str, pd.DataFrame], versions: Mapping[str, str],
                     forecast_date: pd.Timestamp) -> pd.DataFrame:
    """The bottom mart's rows (``frames.FORECAST_MART_COLUMNS`` and ``forecast_date``): every
    model's forecast in turn, in its own row order. A daily forecast is ~1M rows a model at
    scale 1: the text columns are categoricals (one object per distinct value, not per row;
    ``write_mart`` writes them as plain text), so stacking the models costs no per-row copy."""
    from pandas.api.types import union_categoricals

    names = list(bottoms)
    lengths = [len(bottoms[n]) for n in names]

    def constant(values: list[str]) -> pd.Categorical:
        distinct = sorted(set(values))
        codes = np.repeat([distinct.index(v) for v in values], lengths).astype(np.int32)
        return pd.Categorical.from_codes(codes, categories=distinct)

    def stacked(column: str) -> np.ndarray:
        return np.concatenate([bottoms[n][column].to_numpy() for n in names])

    return pd.DataFrame({
        "target_date": stacked(F.TARGET_DATE).astype("datetime64[ns]"),
        F.STORE: union_categoricals([_text_categorical(bottoms[n][F.STORE]) for n in names],
                                    sort_categories=True),
        F.PRODUCT: union_categoricals([_text_categorical(bottoms[n][F.PRODUCT])
                                       for n in names], sort_categories=True),
        "model": constant(names),
        "model_version": constant([versions[n] for n in names]),
        F.UNITS: stacked(F.UNITS).astype(np.float64),
        F.P10: stacked(F.P10).astype(np.float64),
        F.P90: stacked(F.P90).astype(np.float64),
        "forecast_date": forecast_date,
    })[[*F.FORECAST_MART_COLUMNS, "forecast_date"]]




def combine(bottoms: Mapping[str, pd.DataFrame], dispersions: Mapping[str, dict],
            members: list[str]) -> tuple[pd.DataFrame, dict]:
    """An equal-weight combination of members' bottom forecasts (same series and days, in the
    same order: every forecaster orders them by series, then day) and its variance model per
    level, the members' averaged; the bottom interval is redrawn from it."""
    from retailops.forecast.models import count_interval, dispersion_for

    first = bottoms[members[0]]
    for member in members[1:]:
        other = bottoms[member]
        if not (len(other) == len(first)
                and (other[F.STORE].to_numpy() == first[F.STORE].to_numpy()).all()
                and (other[F.PRODUCT].to_numpy() == first[F.PRODUCT].to_numpy()).all()
                and (other[F.TARGET_DATE].to_numpy() == first[F.TARGET_DATE].to_numpy()).all()):
            raise ValueError(f"forecast combination: {member} forecast other cells than "
                             f"{members[0]}")
    mean = np.mean([bottoms[m][F.UNITS].to_numpy(dtype=float) for m in members], axis=0)
    levels_known = set().union(*(dispersions[m] for m in members))
    dispersion = {level: tuple(float(np.mean([dispersions[m].get(level, (1.0, 0.0))[i]
                                              for m in members])) for i in (0, 1))
                  for level in levels_known}
    a, phi = dispersion.get("store_product", (1.0, 0.0))
    low, high = count_interval(mean, dispersion_for(mean, a, phi))
    out = first[[F.STORE, F.PRODUCT, F.TARGET_DATE]].copy()
    out[F.UNITS], out[F.P10], out[F.P90] = mean, low, high
    return out.reset_index(drop=True), dispersion


_ARROW_TYPES = {"DATE": "date32", "VARCHAR": "string", "DOUBLE": "float64", "INTEGER": "int32"}


def _arrow_column(values: pd.Series, kind: str):
    """One mart column as an Arrow array of the mart's type, without a Python object per row
    (a daily forecast is ~3M rows: ``.dt.date`` and per-row strings took seconds)."""
    import pyarrow as pa

    arrow_type = getattr(pa, _ARROW_TYPES[kind])()
    if kind == "DATE":
        days = pd.to_datetime(values).to_numpy().astype("datetime64[D]")
        return pa.array(days, type=arrow_type, from_pandas=True)
    if isinstance(values.dtype, pd.CategoricalDtype):
        return pa.array(values.array, from_pandas=True).cast(arrow_type)
    # from_pandas: NaN is a null, as pa.Table.from_pandas writes it
    return pa.array(values.to_numpy(), type=arrow_type, from_pandas=True)


_ROW_GROUP = 1024 * 1024


def write_mart(lake: Lake, mart_name: str, rows: pd.DataFrame) -> list[str]:
    """One Parquet file per forecast date under ``curated/<mart>/forecast_date=D/`` (the
    layout of ``warehouse.forecast_marts``; the partition column is in the path only), with the
    mart's column types. Returns the files written."""
    return write_encoded(lake, encode_mart(mart_name, rows))


def write_encoded(lake: Lake, files: list[tuple[str, bytes]]) -> list[str]:
    """``encode_mart``'s files written to the lake; returns their paths."""
    for path, data in files:
        lake.write_bytes(path, data)
    return [path for path, _ in files]


def encode_mart(mart_name: str, rows: pd.DataFrame) -> list[tuple[str, bytes]]:
    """``write_mart``'s files, as (path in the lake, Parquet bytes), not yet written."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from retailops.warehouse.forecast_marts import MARTS_BY_NAME

    mart = MARTS_BY_NAME[mart_name]
    schema = pa.schema([(name, getattr(pa, _ARROW_TYPES[kind])())
                        for name, kind in mart.file_columns()])
    partition = pd.to_datetime(rows[mart.partition]).to_numpy()
    written = []
    for day in np.sort(pd.unique(partition)):
        # A forecast run writes one date: its rows are written as they are, not copied.
        part = rows if (partition == day).all() else rows[partition == day]
        buffer = io.BytesIO()
        # Converted and written a row group at a time (pyarrow's default group of 1Mi rows:
        # the same file as one write_table): a scale-16 day is ~48M rows, whose text columns
        # as whole Arrow arrays would take several GB.
        with pq.ParquetWriter(buffer, schema) as writer:
            for begin in range(0, max(len(part), 1), _ROW_GROUP):
                piece = part.iloc[begin:begin + _ROW_GROUP]
                writer.write_table(pa.Table.from_arrays(
                    [_arrow_column(piece[name], kind) for name, kind in mart.file_columns()],
                    schema=schema))
        written.append((mart.path(pd.Timestamp(day).date().isoformat()), buffer.getvalue()))
    return written
