"""The Kaggle task on the user's own train.csv: forecast its last 16 days, score them like Kaggle.

The competition ("favorita-grocery-sales-forecasting") asked for 16 days of ``unit_sales`` per
store x item after train.csv's last day, scored by NWRMSLE::

    NWRMSLE = sqrt( sum_i w_i (ln(yhat_i + 1) - ln(y_i + 1))^2 / sum_i w_i )

with ``w_i`` = 1.25 for perishable items (items.csv ``perishable``) and 1.00 otherwise. Kaggle's
answers are not public, so the task here holds out the last ``holdout_days`` days of the user's
train.csv, forecasts them from the days before, and scores the forecast the same way.

Decisions, each a rule of the competition or the closest stand-in for one:

- **The grid**: Kaggle's test.csv lists every store x item of its period, sold or not, and
  train.csv has rows only where something sold. The holdout is scored on the cross product of
  the stores and the items that appear anywhere in train.csv, a missing row meaning 0 sales.
- **Returns**: a cell's net ``unit_sales`` below 0 counts as 0, in the actuals and the forecasts.
- **Weights**: 1.25 for an item items.csv marks perishable; 1.00 otherwise, and for an item
  items.csv does not list (counted in the scores as ``unlisted_items``).
- **No promotion of the target day**: test.csv gives ``onpromotion`` for every row of the 16
  days, but in train.csv the flag exists only on rows that sold, so using it on the holdout
  would tell the model which cells sold. The models see the sales before the cutoff, the item
  and store attributes, and the calendar of the target day (weekday, payday, holidays).

Models, on one dense (series x days) matrix of daily units read by DuckDB (only the days the
models need are read; the matrix of the full release is ~220k series x ~170 days, ~150 MB):

- ``zero``: the baseline that forecasts nothing.
- ``moving_average_<N>``: exp(mean of ln(1 + units) over the last N days) - 1, the public
  kernels' baseline (N from ``moving_average_days``).
- ``seasonal_naive``: the same weekday of the last week before the cutoff.
- ``tsb``: TSB's level, from the forecasting layer (``retailops.forecast.intermittent.tsb_level``).
- ``lightgbm``: one global LightGBM over every store x item, direct multi-horizon (the
  forecasting layer's ``forecast.gbm`` design: each row is (series, origin, horizon)), fitted on
  ln(1 + units) with the metric's weights, so its squared error *is* the metric.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

import duckdb
import numpy as np
import pandas as pd

from retailops.errors import InvalidParameterError

log = logging.getLogger(__name__)

PERISHABLE_WEIGHT = 1.25
MODELS = ("lightgbm", "tsb", "seasonal_naive", "moving_average")
# Longest trailing window a feature or a baseline reads (days before the origin, inclusive).
LOOKBACK_DAYS = 112
# Fewest days of history before the cutoff the task runs with.
MIN_HISTORY_DAYS = 28

SCORE_COLUMNS = [
    "model", "role", "nwrmsle", "nwrmsle_perishable", "nwrmsle_other", "cells", "series",
    "stores", "items", "unlisted_items", "holdout_start", "holdout_end", "seconds", "status", "note",
]

DEFAULT_LIGHTGBM = {
    # Origins a week apart before the cutoff, each giving (series x horizon) training rows.
    "training_origins": 4,
    # Training rows kept, drawn uniformly over the origins' (series, horizon) pairs.
    "max_training_rows": 2_000_000,
    "num_boost_round": 200,
    "learning_rate": 0.08,
    "num_leaves": 63,
    "min_data_in_leaf": 200,
    "seed": 42,
    # LightGBM's OpenMP threads. 1 by default: on a shared 2-core machine (load ~20) two threads
    # spin against each other and trained 12x slower than one (85 s against 7 s, measured).
    "num_threads": 1,
}


# --- the metric ----------------------------------------------------------------------------------


def nwrmsle(actual: Any, forecast: Any, perishable: Any) -> float:
    """The competition's metric over matching cells; negatives count as 0 on both sides."""
    y = np.clip(np.asarray(actual, dtype=np.float64), 0.0, None)
    yhat = np.clip(np.asarray(forecast, dtype=np.float64), 0.0, None)
    weight = np.where(np.asarray(perishable, dtype=bool), PERISHABLE_WEIGHT, 1.0)
    y, yhat, weight = np.broadcast_arrays(y, yhat, weight)
    if y.size == 0:
        return float("nan")
    error = np.log1p(yhat) - np.log1p(y)
    return float(np.sqrt(np.sum(weight * error * error) / np.sum(weight)))


# --- parameters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KaggleTaskSettings:
    """``favorita.kaggle_task`` parameters."""

    enabled: bool = True
    holdout_days: int = 16
    model: str = "lightgbm"
    moving_average_days: tuple[int, ...] = (14, 28)
    lightgbm: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_LIGHTGBM))

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "KaggleTaskSettings":
        """Build from the ``favorita`` block; every bad value in one line (InvalidParameterError)."""
        block = params.get("kaggle_task")
        if block is None:
            block = {}
        prefix = "favorita.kaggle_task"
        if not isinstance(block, Mapping):
            raise InvalidParameterError(f"{prefix}={block!r} must be a mapping (enabled, holdout_days, model, ...)")
        problems: list[str] = []
        known = {"enabled", "holdout_days", "model", "moving_average_days", "lightgbm"}
        for key in sorted(set(block) - known):
            problems.append(f"{prefix}.{key} is not a setting (known: {', '.join(sorted(known))})")
        enabled = block.get("enabled", cls.enabled)
        if not isinstance(enabled, bool):
            problems.append(f"{prefix}.enabled={enabled!r} must be true or false")
        holdout = block.get("holdout_days", cls.holdout_days)
        if not _whole(holdout) or not 1 <= holdout <= 56:
            problems.append(f"{prefix}.holdout_days={holdout!r} must be a whole number of days from 1 to 56")
        model = block.get("model", cls.model)
        if model not in MODELS:
            problems.append(f"{prefix}.model={model!r} must be one of {', '.join(MODELS)}")
        windows = block.get("moving_average_days", list(cls.moving_average_days))
        if (not isinstance(windows, (list, tuple)) or not windows
                or not all(_whole(n) and 1 <= n <= LOOKBACK_DAYS for n in windows)):
            problems.append(f"{prefix}.moving_average_days={windows!r} must be a list of whole numbers "
                            f"of days from 1 to {LOOKBACK_DAYS}")
        gbm = dict(DEFAULT_LIGHTGBM)
        given = block.get("lightgbm") or {}
        if not isinstance(given, Mapping):
            problems.append(f"{prefix}.lightgbm={given!r} must be a mapping")
            given = {}
        for key, value in given.items():
            if key not in DEFAULT_LIGHTGBM:
                problems.append(f"{prefix}.lightgbm.{key} is not a setting "
                                f"(known: {', '.join(DEFAULT_LIGHTGBM)})")
            elif key == "learning_rate":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                    problems.append(f"{prefix}.lightgbm.learning_rate={value!r} must be a number in (0, 1]")
                else:
                    gbm[key] = float(value)
            elif not _whole(value) or value < (0 if key == "seed" else 1):
                problems.append(f"{prefix}.lightgbm.{key}={value!r} must be a whole number"
                                + (" >= 0" if key == "seed" else " >= 1"))
            else:
                gbm[key] = int(value)
        if problems:
            raise InvalidParameterError("; ".join(problems))
        return cls(bool(enabled), int(holdout), str(model), tuple(int(n) for n in windows), gbm)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- the sales matrix ----------------------------------------------------------------------------


@dataclass
class SalesMatrix:
    """Daily net units (negatives as 0) of every store x item, for the last days of train.

    Series ``s`` is store ``stores[s // len(items)]`` and item ``items[s % len(items)]``.
    ``cutoff`` is the column of the last day before the holdout.
    """

    stores: np.ndarray
    items: np.ndarray
    days: pd.DatetimeIndex
    units: np.ndarray  # float32 (series x days)
    cutoff: int
    first_day: date
    rows_read: int

    @property
    def n_series(self) -> int:
        return len(self.stores) * len(self.items)

    def series_store(self) -> np.ndarray:
        return np.repeat(self.stores, len(self.items))

    def series_item(self) -> np.ndarray:
        return np.tile(self.items, len(self.stores))


def history_span(settings: KaggleTaskSettings) -> int:
    """Days before the cutoff (inclusive) the models read: the lookback of the earliest
    LightGBM training origin (``training_origins`` a week apart, ``holdout_days`` before the cutoff)."""
    origins = int(settings.lightgbm["training_origins"]) if settings.model == "lightgbm" else 0
    extra = settings.holdout_days + 7 * (origins - 1) if origins else 0
    return LOOKBACK_DAYS + extra


def read_sales_matrix(con: duckdb.DuckDBPyConnection, source: str, settings: KaggleTaskSettings) -> SalesMatrix:
    """Read the matrix from ``source`` (a DuckDB relation with date, store_nbr, item_nbr,
    unit_sales: the cleaned train Parquet, or train.csv itself).

    Two passes: the store x item pairs with their date range (a hash aggregate of ~220k groups
    for the full release), then only the days the models need.
    """
    pairs = con.execute(
        f"SELECT store_nbr, item_nbr, min(date) AS first_day, max(date) AS last_day "
        f"FROM {source} GROUP BY ALL"
    ).df()
    if pairs.empty:
        raise ValueError("train has no rows")
    stores = np.sort(pairs["store_nbr"].unique()).astype(np.int64)
    items = np.sort(pairs["item_nbr"].unique()).astype(np.int64)
    first_seen = pd.Timestamp(pairs["first_day"].min()).date()
    last = pd.Timestamp(pairs["last_day"].max()).date()
    span = history_span(settings)
    start = max(first_seen, (pd.Timestamp(last) - pd.Timedelta(days=span + settings.holdout_days - 1)).date())
    days = pd.date_range(start, last, freq="D")
    con.register("kaggle_store_index", pd.DataFrame({"store_nbr": stores, "store_pos": np.arange(len(stores))}))
    con.register("kaggle_item_index", pd.DataFrame({"item_nbr": items, "item_pos": np.arange(len(items))}))
    try:
        cells = con.execute(
            f"""
            SELECT (s.store_pos * {len(items)} + i.item_pos)::INTEGER AS series,
                   datediff('day', DATE '{start.isoformat()}', t.date)::INTEGER AS day,
                   greatest(sum(t.unit_sales), 0)::FLOAT AS units
            FROM {source} AS t
            JOIN kaggle_store_index AS s ON s.store_nbr = t.store_nbr
            JOIN kaggle_item_index AS i ON i.item_nbr = t.item_nbr
            WHERE t.date >= DATE '{start.isoformat()}'
            GROUP BY ALL
            """
        ).fetchnumpy()
    finally:
        con.unregister("kaggle_store_index")
        con.unregister("kaggle_item_index")
    units = np.zeros((len(stores) * len(items), len(days)), dtype=np.float32)
    units[cells["series"], cells["day"]] = cells["units"]
    return SalesMatrix(stores, items, days, units, len(days) - settings.holdout_days - 1,
                       first_seen, int(len(cells["units"])))


# --- the forecasts --------------------------------------------------------------------------------


def moving_average(log_units: np.ndarray, origin: int, window: int, horizon: int) -> np.ndarray:
    """exp(mean ln(1 + units) over the ``window`` days up to ``origin``) - 1, flat over the horizon."""
    mean = log_units[:, max(0, origin - window + 1): origin + 1].mean(axis=1, dtype=np.float64)
    return np.repeat(np.expm1(mean)[:, None], horizon, axis=1)


def seasonal_naive(units: np.ndarray, origin: int, horizon: int) -> np.ndarray:
    """Each target day gets the units of the same weekday in the last week up to ``origin``."""
    columns = [origin + h - 7 * math.ceil(h / 7) for h in range(1, horizon + 1)]
    columns = [c if c >= 0 else origin for c in columns]
    return units[:, columns].astype(np.float64)


def tsb(units: np.ndarray, origin: int, horizon: int) -> np.ndarray:
    """TSB's level (the forecasting layer's vectorized recursion) over the lookback, flat."""
    from retailops.forecast.intermittent import tsb_level

    window = units[:, max(0, origin - LOOKBACK_DAYS + 1): origin + 1]
    return np.repeat(tsb_level(window)[:, None], horizon, axis=1)


@dataclass
class Attributes:
    """Per-series attributes (codes) and the calendar of every matrix day per store."""

    perishable: np.ndarray  # bool per series
    unlisted_items: int
    categorical: dict[str, np.ndarray]  # per series
    calendar: dict[str, np.ndarray]  # (stores x days) per flag
    day_of_week: np.ndarray  # per day, 0 = Monday
    day_of_month: np.ndarray
    is_payday: np.ndarray


HOLIDAY_FLAGS = ("is_holiday", "is_national_holiday", "is_regional_holiday", "is_local_holiday", "is_event")


def attributes(matrix: SalesMatrix, items: pd.DataFrame, stores: pd.DataFrame,
               store_holidays: pd.DataFrame, payday_day_of_month: int = 15) -> Attributes:
    """Item (family, class, perishable), store (type, cluster) and calendar codes.

    ``items``, ``stores`` and ``store_holidays`` are the study's cleaned tables.
    """
    item_table = items.drop_duplicates("item_nbr").set_index("item_nbr").reindex(matrix.items)
    listed = item_table["family"].notna().to_numpy()
    item_perishable = item_table["is_perishable"].fillna(False).astype(bool).to_numpy()
    family = pd.Categorical(item_table["family"].astype("string")).codes.astype(np.int32)
    item_class = pd.to_numeric(item_table["class"], errors="coerce").fillna(-1).to_numpy(np.int64)
    store_table = stores.drop_duplicates("store_nbr").set_index("store_nbr").reindex(matrix.stores)
    store_type = pd.Categorical(store_table["store_type"].astype("string")).codes.astype(np.int32)
    cluster = pd.to_numeric(store_table["cluster"], errors="coerce").fillna(-1).to_numpy(np.int64)
    n_items, n_stores = len(matrix.items), len(matrix.stores)
    store_pos = np.repeat(np.arange(n_stores), n_items)
    item_pos = np.tile(np.arange(n_items), n_stores)
    calendar = {}
    flags = store_holidays.copy()
    if not flags.empty:
        flags["date"] = pd.to_datetime(flags["date"])
        flags = flags[flags["date"].between(matrix.days[0], matrix.days[-1])]
    rows = pd.Index(matrix.stores).get_indexer(flags["store_nbr"]) if len(flags) else np.array([], int)
    cols = matrix.days.get_indexer(flags["date"]) if len(flags) else np.array([], int)
    keep = (rows >= 0) & (cols >= 0)
    for flag in HOLIDAY_FLAGS:
        grid = np.zeros((n_stores, len(matrix.days)), dtype=bool)
        if len(flags) and flag in flags:
            grid[rows[keep], cols[keep]] = flags[flag].to_numpy(bool)[keep]
        calendar[flag] = grid
    days = matrix.days
    return Attributes(
        perishable=item_perishable[item_pos],
        unlisted_items=int((~listed).sum()),
        categorical={
            "store_nbr": matrix.stores[store_pos],
            "store_type": store_type[store_pos],
            "cluster": cluster[store_pos],
            "family": family[item_pos],
            "item_class": item_class[item_pos],
            "perishable": item_perishable[item_pos].astype(np.int32),
        },
        calendar=calendar,
        day_of_week=np.asarray(days.day_of_week),
        day_of_month=np.asarray(days.day),
        is_payday=np.asarray((days.day == payday_day_of_month) | days.is_month_end),
    )


SERIES_WINDOWS = (3, 7, 14, 28, 56, 112)


def series_features(log_units: np.ndarray, origin: int, matrix: SalesMatrix) -> dict[str, np.ndarray]:
    """Features of each series known at ``origin`` (float32 arrays, one value per series)."""
    out: dict[str, np.ndarray] = {}
    history = log_units[:, : origin + 1]
    for window in SERIES_WINDOWS:
        out[f"mean_log_{window}"] = history[:, -window:].mean(axis=1, dtype=np.float64).astype(np.float32)
    for window in (28, 112):
        out[f"sale_share_{window}"] = (history[:, -window:] > 0).mean(axis=1, dtype=np.float64).astype(np.float32)
    sold = history[:, -LOOKBACK_DAYS:] > 0
    last_sale = np.where(sold.any(axis=1), sold.shape[1] - 1 - np.argmax(sold[:, ::-1], axis=1), -1)
    out["days_since_sale"] = np.where(last_sale >= 0, sold.shape[1] - 1 - last_sale, LOOKBACK_DAYS + 1).astype(np.float32)
    n_stores, n_items = len(matrix.stores), len(matrix.items)
    by_pair = out["mean_log_28"].reshape(n_stores, n_items)
    out["item_mean_log_28"] = np.tile(by_pair.mean(axis=0), n_stores).astype(np.float32)
    out["store_mean_log_28"] = np.repeat(by_pair.mean(axis=1), n_items).astype(np.float32)
    return out


def weekday_means(log_units: np.ndarray, origin: int, weeks: int) -> np.ndarray:
    """(series x 7): mean ln(1 + units) of the last ``weeks`` days that fall ``r`` days before
    the origin's weekday, for r = 0..6 (column r)."""
    out = np.zeros((log_units.shape[0], 7), dtype=np.float32)
    for r in range(7):
        columns = [origin - r - 7 * k for k in range(weeks) if origin - r - 7 * k >= 0]
        if columns:
            out[:, r] = log_units[:, columns].mean(axis=1, dtype=np.float64)
    return out


FEATURE_NAMES = (
    [f"mean_log_{w}" for w in SERIES_WINDOWS]
    + ["sale_share_28", "sale_share_112", "days_since_sale", "item_mean_log_28", "store_mean_log_28",
       "weekday_mean_4w", "weekday_mean_16w", "horizon", "day_of_week", "day_of_month", "is_payday"]
    + list(HOLIDAY_FLAGS)
    + ["store_nbr", "store_type", "cluster", "family", "item_class", "perishable"]
)
CATEGORICAL = ("store_nbr", "store_type", "cluster", "family", "perishable")


def origin_features(log_units: np.ndarray, origin: int, matrix: SalesMatrix) -> dict[str, np.ndarray]:
    """Everything ``feature_rows`` needs from the history up to ``origin`` (computed once)."""
    out = series_features(log_units, origin, matrix)
    out["weekday_mean_4w"] = weekday_means(log_units, origin, 4)
    out["weekday_mean_16w"] = weekday_means(log_units, origin, 16)
    return out


def feature_rows(known: dict[str, np.ndarray], origin: int, series: np.ndarray, horizon: np.ndarray,
                 matrix: SalesMatrix, attrs: Attributes) -> np.ndarray:
    """The float32 feature matrix (rows x FEATURE_NAMES) of (series, horizon) pairs at ``origin``;
    ``known`` is ``origin_features`` of that origin."""
    target = origin + horizon
    lag = (-horizon) % 7  # the weekday of the target day is ``lag`` days before the origin's
    store_pos = series // len(matrix.items)
    X = np.empty((len(series), len(FEATURE_NAMES)), dtype=np.float32)
    for j, name in enumerate(FEATURE_NAMES):
        if name in ("weekday_mean_4w", "weekday_mean_16w"):
            X[:, j] = known[name][series, lag]
        elif name in known:
            X[:, j] = known[name][series]
        elif name == "horizon":
            X[:, j] = horizon
        elif name == "day_of_week":
            X[:, j] = attrs.day_of_week[target]
        elif name == "day_of_month":
            X[:, j] = attrs.day_of_month[target]
        elif name == "is_payday":
            X[:, j] = attrs.is_payday[target]
        elif name in attrs.calendar:
            X[:, j] = attrs.calendar[name][store_pos, target]
        else:
            X[:, j] = attrs.categorical[name][series]
    return X


def lightgbm_forecast(matrix: SalesMatrix, log_units: np.ndarray, attrs: Attributes,
                      settings: KaggleTaskSettings) -> tuple[np.ndarray, str]:
    """Fit on origins before the cutoff, predict the holdout: (series x horizon) units, a note."""
    import lightgbm as lgb

    options = settings.lightgbm
    horizon = settings.holdout_days
    origins = [matrix.cutoff - horizon - 7 * k for k in range(int(options["training_origins"]))]
    origins = [o for o in origins if o >= MIN_HISTORY_DAYS - 1]
    if not origins:
        raise ValueError("too little history before the holdout to train LightGBM")
    rng = np.random.default_rng(int(options["seed"]))
    per_origin = max(1, int(options["max_training_rows"]) // len(origins))
    pairs = matrix.n_series * horizon
    blocks_X, blocks_y, blocks_w = [], [], []
    for origin in origins:
        picked = rng.choice(pairs, size=min(per_origin, pairs), replace=False) if per_origin < pairs else np.arange(pairs)
        series, h = np.divmod(picked, horizon)
        h = h + 1
        known = origin_features(log_units, origin, matrix)
        blocks_X.append(feature_rows(known, origin, series, h, matrix, attrs))
        blocks_y.append(log_units[series, origin + h])
        blocks_w.append(np.where(attrs.perishable[series], PERISHABLE_WEIGHT, 1.0).astype(np.float32))
    X = np.concatenate(blocks_X)
    del blocks_X
    data = lgb.Dataset(X, label=np.concatenate(blocks_y), weight=np.concatenate(blocks_w),
                       feature_name=list(FEATURE_NAMES), categorical_feature=list(CATEGORICAL),
                       free_raw_data=True)
    params = {
        "objective": "regression", "learning_rate": options["learning_rate"],
        "num_leaves": options["num_leaves"], "min_data_in_leaf": options["min_data_in_leaf"],
        "feature_fraction": 0.9, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
        "seed": options["seed"], "num_threads": options["num_threads"], "verbose": -1,
    }
    booster = lgb.train(params, data, num_boost_round=int(options["num_boost_round"]))
    rows = len(X)
    del X, data
    out = np.zeros((matrix.n_series, horizon), dtype=np.float64)
    everyone = np.arange(matrix.n_series)
    known = origin_features(log_units, matrix.cutoff, matrix)
    for h in range(1, horizon + 1):
        X = feature_rows(known, matrix.cutoff, everyone, np.full(matrix.n_series, h), matrix, attrs)
        out[:, h - 1] = np.expm1(np.clip(booster.predict(X, num_threads=options["num_threads"]), 0, None))
    note = (f"{rows:,} training rows from {len(origins)} origins "
            f"({matrix.days[origins[-1]].date()}..{matrix.days[origins[0]].date()}), "
            f"{int(options['num_boost_round'])} rounds")
    return out, note


# --- the task ------------------------------------------------------------------------------------


_NUMBERS = ("nwrmsle", "nwrmsle_perishable", "nwrmsle_other", "seconds")
_COUNTS = ("cells", "series", "stores", "items", "unlisted_items")


def _skipped(reason: str) -> pd.DataFrame:
    row = {column: None for column in SCORE_COLUMNS}
    row.update(model="(not run)", role="model", status="skipped", note=reason)
    frame = pd.DataFrame([row], columns=SCORE_COLUMNS)
    return frame.astype({c: "float64" for c in _NUMBERS} | {c: "Int64" for c in _COUNTS}
                        | {c: "string" for c in ("holdout_start", "holdout_end")})


def empty_scores(reason: str) -> pd.DataFrame:
    """The scores table of a task that did not run, saying why."""
    return _skipped(reason)


def run_task(con: duckdb.DuckDBPyConnection, source: str, items: pd.DataFrame, stores: pd.DataFrame,
             store_holidays: pd.DataFrame, settings: KaggleTaskSettings,
             payday_day_of_month: int = 15) -> pd.DataFrame:
    """Hold out the last ``holdout_days`` of ``source``, forecast them, score every forecast.

    One row per forecast (the chosen model and the baselines) with its NWRMSLE, overall and
    split by perishable and other items.
    """
    if not settings.enabled:
        return _skipped("favorita.kaggle_task.enabled is false")
    started = time.perf_counter()
    matrix = read_sales_matrix(con, source, settings)
    read_seconds = time.perf_counter() - started
    if matrix.cutoff + 1 < MIN_HISTORY_DAYS:
        return _skipped(
            f"train covers {len(matrix.days)} days up to {matrix.days[-1].date()}; the task needs "
            f"{settings.holdout_days} held-out days and at least {MIN_HISTORY_DAYS} days before them")
    horizon = settings.holdout_days
    attrs = attributes(matrix, items, stores, store_holidays, payday_day_of_month)
    actual = matrix.units[:, matrix.cutoff + 1:]
    log_units = np.log1p(matrix.units)
    forecasts: list[tuple[str, str, Any]] = [("zero", "baseline", lambda: np.zeros_like(actual, dtype=np.float64))]
    for window in settings.moving_average_days:
        forecasts.append((f"moving_average_{window}", "baseline",
                          lambda w=window: moving_average(log_units, matrix.cutoff, w, horizon)))
    model_names = {"moving_average": f"moving_average_{settings.moving_average_days[0]}"}
    chosen = model_names.get(settings.model, settings.model)
    if settings.model == "seasonal_naive":
        forecasts.append(("seasonal_naive", "model", lambda: seasonal_naive(matrix.units, matrix.cutoff, horizon)))
    elif settings.model == "tsb":
        forecasts.append(("tsb", "model", lambda: tsb(matrix.units, matrix.cutoff, horizon)))
    elif settings.model == "lightgbm":
        forecasts.append(("lightgbm", "model", lambda: lightgbm_forecast(matrix, log_units, attrs, settings)))
    rows = []
    weights_perishable = attrs.perishable[:, None]
    for name, role, make in forecasts:
        began = time.perf_counter()
        result = make()
        forecast, note = result if isinstance(result, tuple) else (result, "")
        if name == chosen:
            role = "model"
        perishable_rows = attrs.perishable
        rows.append({
            "model": name,
            "role": role,
            "nwrmsle": nwrmsle(actual, forecast, weights_perishable),
            "nwrmsle_perishable": nwrmsle(actual[perishable_rows], forecast[perishable_rows], True),
            "nwrmsle_other": nwrmsle(actual[~perishable_rows], forecast[~perishable_rows], False),
            "cells": int(actual.size),
            "series": matrix.n_series,
            "stores": len(matrix.stores),
            "items": len(matrix.items),
            "unlisted_items": attrs.unlisted_items,
            "holdout_start": matrix.days[matrix.cutoff + 1].date().isoformat(),
            "holdout_end": matrix.days[-1].date().isoformat(),
            "seconds": round(time.perf_counter() - began, 2),
            "status": "ok",
            "note": note,
        })
        log.info("Kaggle task: %s NWRMSLE %.5f", name, rows[-1]["nwrmsle"])
    scores = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    scores.attrs["read_seconds"] = read_seconds
    return scores
