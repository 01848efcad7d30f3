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
from retailops.forecast.truth import compound_poisson_quantiles

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
    accuracy: pd.DataFrame           # scores.ACCURACY_COLUMNS
    reconciliation: pd.DataFrame     # model, approach, against, wape, mase, bias (store × category)
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> fit/predict
    missing_forecasts: dict[str, int] = field(default_factory=dict)
    scored: "_ScoredCells | None" = field(default=None, repr=False)

    def forecast_frames(self):
        """Every scored forecast, one frame per model (``origin, model, store_id, product_id,
        target_date, units, units_p10, units_p90``; ids categorical): a year's backtest holds
        ~4M cells per model, so a writer takes them a model at a time."""
        return self.scored.frames() if self.scored is not None else iter(())

    @property
    def forecasts(self) -> pd.DataFrame:
        """Every scored forecast in one frame (the cells of the truth each model forecast)."""
        frames = list(self.forecast_frames())
        if not frames:
            return pd.DataFrame(columns=["origin", "model", *FORECAST_COLUMNS])
        return pd.concat(frames, ignore_index=True)


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

    Memory: each forecast is aligned with the scored cells as soon as it is made and its frame
    dropped, so only one origin's history and one model's forecast frame exist at a time.
    """
    missing = [c for c in ("store_id", "product_id", "date", "units") if c not in history]
    if missing:
        raise ValueError(f"the history has no {missing} column(s)")
    dates = history["date"]
    if not pd.api.types.is_datetime64_any_dtype(dates):
        dates = pd.to_datetime(dates)
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
    if combinations:
        _check_combinations(combinations, list(forecasters))

    # Copies: a forecaster's learned state (fitted on other, possibly later, data by an earlier
    # run or by the caller) must not carry into this backtest, nor this backtest's into it.
    given = forecasters
    forecasters = {name: copy.deepcopy(f) for name, f in given.items()}
    truth_window = truth[(truth["date"] > pd.Timestamp(origins[0]))
                         & (truth["date"] <= pd.Timestamp(last_day))]
    scored = _ScoredCells(truth_window, origins, h)
    del truth_window
    scored.observe(history, dates)
    seconds = _forecast_at_origins(history, dates, forecasters, plan_for, context, origins,
                                   config, prepare, consume=scored.add)
    for name, members in (combinations or {}).items():
        scored.combine(name, list(members))
    scored.add_oracle()

    panel, missing = scored.panel()
    names = list(scored.models)
    dense = DenseHistory.from_history(history, last_day=origins[-1])
    accuracy = score_panel(panel, names, dense, category_of, h)

    reconciliation = pd.DataFrame(columns=["model", "approach", "against", "wape", "mase", "bias"])
    if direct_models:
        if direct_context is None:
            direct_context = category_context(context)
        reconciliation = _reconciliation(history, dates, panel, dense, given, direct_models,
                                         plan_for, direct_context, category_of, origins, config,
                                         prepare)
    return BacktestResult(origins=origins, horizon=h, accuracy=accuracy,
                          reconciliation=reconciliation, seconds=seconds,
                          missing_forecasts=missing, scored=scored)


def _forecast_at_origins(history: pd.DataFrame, dates: pd.Series,
                         forecasters: Mapping[str, Any], plan_for: Callable[[date], pd.DataFrame],
                         context: Any, origins: list[date], config: BacktestConfig,
                         prepare: Callable[[pd.DataFrame], pd.DataFrame] | None,
                         consume: Callable[[int, date, str, pd.DataFrame], None]
                         ) -> dict[str, dict[str, float]]:
    """Fit and predict every model at every origin, handing each forecast frame to
    ``consume(origin_index, origin, model, frame)`` as soon as it is made."""
    seconds = {name: {"fit": 0.0, "predict": 0.0, "fits": 0} for name in forecasters}
    fitted: dict[str, Any] = {}
    for index, origin in enumerate(origins):
        known = history[(dates <= pd.Timestamp(origin)).to_numpy()]
        if prepare is not None:
            known = prepare(known)
        plan = plan_for(origin)
        for name, forecaster in forecasters.items():
            if index % config.refit_every == 0 or name not in fitted:
                fitted.pop(name, None)  # the old fit is freed before the new one is built
                started = time.perf_counter()
                fitted[name] = forecaster.fit(known, plan, context)
                seconds[name]["fit"] += time.perf_counter() - started
                seconds[name]["fits"] += 1
            started = time.perf_counter()
            predicted = fitted[name].predict(known, origin, config.horizon, plan, context)
            seconds[name]["predict"] += time.perf_counter() - started
            log.info("backtest: %s forecast %d rows at origin %s", name, len(predicted), origin)
            consume(index, origin, name, predicted)
            del predicted
        # this origin's slice goes before the next one is cut (two years' worth otherwise)
        del known, plan
    return seconds


def _check_combinations(combinations: Mapping[str, Any], models: list[str]) -> None:
    for name, members in combinations.items():
        members = list(members)
        unknown = [m for m in members if m not in models]
        if len(members) < 2 or unknown:
            raise InvalidParameterError(
                f"backtest.combinations.{name}: needs two or more backtested models "
                f"(unknown: {unknown})" if unknown else
                f"backtest.combinations.{name}: needs two or more models")


def _codes(values: pd.Series | np.ndarray, index: pd.Index) -> np.ndarray:
    """Positions of ``values`` (ids, as text or categorical) in ``index`` (-1: not in it),
    without turning a categorical column of millions of rows into text."""
    values = pd.Series(values, copy=False)
    if isinstance(values.dtype, pd.CategoricalDtype):
        lookup = index.get_indexer(values.cat.categories.astype(str))
        codes = values.cat.codes.to_numpy()
        return np.where(codes >= 0, lookup[np.maximum(codes, 0)], -1)
    return index.get_indexer(values.astype(str))


def _distinct_text(values: pd.Series) -> np.ndarray:
    """The distinct ids of a column as sorted text (a categorical's used categories)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        used = np.unique(codes[codes >= 0])
        return np.sort(np.asarray(values.cat.categories[used].astype(str), dtype=object))
    return np.sort(values.astype(str).unique())


def _day_numbers(values: pd.Series | np.ndarray) -> np.ndarray:
    return pd.to_datetime(pd.Series(values, copy=False)).to_numpy(
        dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)


class _ScoredCells:
    """The scored cells (every origin × store × product × target day of the truth, in the
    truth's order) with the observed units, the true demand, and each model's forecast
    aligned to them as float arrays (NaN where the model made none)."""

    def __init__(self, truth: pd.DataFrame, origins: list[date], horizon: int):
        self.origins, self.horizon = origins, horizon
        self.stores = pd.Index(_distinct_text(truth["store_id"]))
        self.products = pd.Index(_distinct_text(truth["product_id"]))
        n_cells = len(self.stores) * len(self.products)
        store = _codes(truth["store_id"], self.stores)
        product = _codes(truth["product_id"], self.products)
        day = _day_numbers(truth["date"])
        self.first_day = int(_day_numbers(pd.Series([pd.Timestamp(origins[0])]))[0]) + 1
        self.n_days = (pd.Timestamp(origins[-1]) - pd.Timestamp(origins[0])).days + horizon
        blocks, starts = [], [0]
        for origin in origins:
            first = int(_day_numbers(pd.Series([pd.Timestamp(origin)]))[0]) + 1
            blocks.append(np.flatnonzero((day >= first) & (day < first + horizon)))
            starts.append(starts[-1] + len(blocks[-1]))
        rows = np.concatenate(blocks)
        self.starts = starts
        self.store = store[rows].astype(np.int32)
        self.product = product[rows].astype(np.int32)
        self.day = day[rows]
        self.cell = self.store.astype(np.int64) * len(self.products) + self.product
        self.demanded = truth["demanded_units"].to_numpy(dtype=float)[rows]
        self.expected = truth["expected_units"].to_numpy(dtype=float)[rows]
        self.observed = np.zeros(len(rows))
        self.n_cells = n_cells
        # per origin: (cell, day) -> row of that origin's block
        self.models: dict[str, dict[str, np.ndarray]] = {}

    def _rows_of(self, index: int, store: np.ndarray, product: np.ndarray,
                 day: np.ndarray) -> np.ndarray:
        """Rows of origin ``index``'s block holding these cells (-1: not scored)."""
        start, stop = self.starts[index], self.starts[index + 1]
        first = self.first_day + (pd.Timestamp(self.origins[index])
                                  - pd.Timestamp(self.origins[0])).days
        lookup = np.full(self.n_cells * self.horizon, -1, dtype=np.int64)
        lookup[self.cell[start:stop] * self.horizon + (self.day[start:stop] - first)] = \
            np.arange(start, stop)
        ok = (store >= 0) & (product >= 0) & (day >= first) & (day < first + self.horizon)
        cell = store.astype(np.int64) * len(self.products) + product
        out = np.full(len(store), -1, dtype=np.int64)
        out[ok] = lookup[cell[ok] * self.horizon + (day[ok] - first)]
        return out

    def observe(self, history: pd.DataFrame, dates: pd.Series) -> None:
        """The observed units of every scored cell (0 where nothing was sold)."""
        after = (dates > pd.Timestamp(self.origins[0])).to_numpy()
        store = _codes(history["store_id"][after], self.stores)
        product = _codes(history["product_id"][after], self.products)
        day = _day_numbers(dates[after])
        units = history["units"].to_numpy(dtype=float)[after]
        ok = (store >= 0) & (product >= 0) & (day >= self.first_day) & (
            day < self.first_day + self.n_days)
        cell = store[ok].astype(np.int64) * len(self.products) + product[ok]
        summed = np.bincount(cell * self.n_days + (day[ok] - self.first_day), weights=units[ok],
                             minlength=self.n_cells * self.n_days)
        self.observed = summed[self.cell * self.n_days + (self.day - self.first_day)]

    def add(self, index: int, origin: date, name: str, predicted: pd.DataFrame) -> None:
        """One model's forecast at one origin, checked and aligned to the origin's cells."""
        missing = [c for c in ("store_id", "product_id", "target_date", "units")
                   if c not in predicted.columns]
        if missing:
            raise ValueError(f"forecaster {name} returned no {missing} column(s)")
        day = _day_numbers(predicted["target_date"])
        first = int(_day_numbers(pd.Series([pd.Timestamp(origin)]))[0]) + 1
        outside = (day < first) | (day >= first + self.horizon)
        if outside.any():
            bad = np.datetime64(int(day[outside][0]), "D")
            raise ValueError(f"forecaster {name} at origin {origin} forecast {bad}, outside "
                             f"{np.datetime64(first, 'D')}..{np.datetime64(first + self.horizon - 1, 'D')}")
        store = _codes(predicted["store_id"], self.stores)
        product = _codes(predicted["product_id"], self.products)
        rows = self._rows_of(index, store, product, day)
        scored = rows >= 0
        if (np.bincount(rows[scored] - self.starts[index],
                        minlength=self.starts[index + 1] - self.starts[index]) > 1).any() or (
                (~scored).any() and predicted.loc[~scored, ["store_id", "product_id",
                                                            "target_date"]].astype(str)
                .duplicated().any()):
            raise ValueError(f"forecaster {name} at origin {origin} forecast a cell twice")
        columns = self.models.setdefault(name, {c: np.full(len(self.day), np.nan)
                                                for c in ("units", "units_p10", "units_p90")})
        for column in columns:
            if column in predicted.columns:
                columns[column][rows[scored]] = predicted[column].to_numpy(dtype=float)[scored]

    def combine(self, name: str, members: list[str]) -> None:
        """The equal-weight mean of the members' forecasts (of those that forecast the cell)."""
        out = {}
        for column in ("units", "units_p10", "units_p90"):
            stacked = np.vstack([self.models[m][column] for m in members])
            present = ~np.isnan(stacked)
            count = present.sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[column] = np.where(count > 0, np.where(present, stacked, 0.0).sum(axis=0)
                                       / np.maximum(count, 1), np.nan)
        self.models[name] = out

    def add_oracle(self) -> None:
        """The expected demand as a forecast, with its 80% interval (``truth.oracle_forecast``)."""
        p10, p90 = np.empty(len(self.expected)), np.empty(len(self.expected))
        for start, stop in zip(self.starts[:-1], self.starts[1:]):
            p10[start:stop], p90[start:stop] = compound_poisson_quantiles(
                self.expected[start:stop], (0.1, 0.9))
        self.models[ORACLE] = {"units": self.expected, "units_p10": p10, "units_p90": p90}

    def _origin_column(self) -> np.ndarray:
        out = np.empty(len(self.day), dtype="datetime64[ns]")
        for index, origin in enumerate(self.origins):
            out[self.starts[index]:self.starts[index + 1]] = np.datetime64(pd.Timestamp(origin))
        return out

    def _keys(self) -> dict[str, Any]:
        return {
            "origin": self._origin_column(),
            "store_id": pd.Categorical.from_codes(self.store, self.stores.astype(object)),
            "product_id": pd.Categorical.from_codes(self.product, self.products.astype(object)),
            "target_date": self.day.astype("datetime64[D]").astype("datetime64[ns]"),
        }

    def panel(self) -> tuple[pd.DataFrame, dict[str, int]]:
        """One row per scored cell: keys, ``observed_units``, ``demanded_units`` and a column per
        model (0 where it made no forecast); and the count of such cells per model."""
        panel = pd.DataFrame({**self._keys(), "observed_units": self.observed,
                              "demanded_units": self.demanded})
        missing = {}
        for name, columns in self.models.items():
            units = columns["units"]
            absent = np.isnan(units)
            missing[name] = int(absent.sum())
            panel[name] = np.where(absent, 0.0, units)
            if missing[name]:
                log.warning("backtest: %s left %d store × product × day cell(s) unforecast "
                            "(scored as 0)", name, missing[name])
        return panel, missing

    def frames(self):
        """Each model's forecasts as ``origin, model, store_id, product_id, target_date, units,
        units_p10, units_p90`` (ids categorical), one frame per model."""
        keys = self._keys()
        names = list(self.models)
        for name, columns in self.models.items():
            made = ~np.isnan(columns["units"])
            frame = pd.DataFrame({k: v[made]
                                  for k, v in keys.items()})
            frame.insert(1, "model", pd.Categorical.from_codes(
                np.full(int(made.sum()), names.index(name), dtype=np.int8), names))
            for column, values in columns.items():
                frame[column] = values[made]
            yield frame


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
    frames = []

    def collect(index: int, origin: date, name: str, predicted: pd.DataFrame) -> None:
        frames.append(_checked(predicted, name, origin, config.horizon)
                      .assign(origin=pd.Timestamp(origin), model=name))

    _forecast_at_origins(aggregated, agg_dates,
                         {m: copy.deepcopy(forecasters[m]) for m in direct_models},
                         lambda origin: None, context, origins, config, prepare, collect)
    direct = pd.concat(frames, ignore_index=True)
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

    def forecasts_parquet() -> bytes:
        # One row group per model: the whole table is never built (~28M rows at a year's scale).
        buffer, writer = io.BytesIO(), None
        for frame in result.forecast_frames():
            table = pa.Table.from_pandas(frame, preserve_index=False)
            for column in ("origin", "target_date"):
                at = table.schema.get_field_index(column)
                table = table.set_column(at, column, table.column(column).cast(pa.date32()))
            if writer is None:
                writer = pq.ParquetWriter(buffer, table.schema, compression="zstd")
            writer.write_table(table)
        if writer is None:
            return parquet(pd.DataFrame(columns=["origin", "model", *FORECAST_COLUMNS]))
        writer.close()
        return buffer.getvalue()

    paths = {"accuracy": accuracy_file(backtest_date),
             "forecasts": f"{details_folder(backtest_date)}/forecasts.parquet",
             "reconciliation": f"{details_folder(backtest_date)}/reconciliation.parquet",
             "summary": f"{details_folder(backtest_date)}/summary.json"}
    # details first, the accuracy table last: a reader that finds the table finds the rest
    lake.write_bytes(paths["forecasts"], forecasts_parquet())
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
