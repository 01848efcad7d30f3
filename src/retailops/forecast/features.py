"""Features for the global model, as a panel of (series x days) arrays.

A ``Panel`` holds one history as matrices (series are store x product, in the history's order):
observed units, units with censored days imputed (``forecast.censoring``), which days are usable
as training targets, and the planned discount per product and day. ``features`` computes, for
any (series, origin, horizon) rows, what was known at the origin (levels and lags from the
imputed units up to the origin, never after) and what is known about the target day ahead of
time (weekday, holiday, season, planned promotion and price), plus the store and product.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from retailops.forecast import censoring, frames as F
from retailops.forecast.censoring import CensoringRule

# Days of history before the first usable origin: the longest window a feature looks back over.
LOOKBACK_DAYS = 28

FEATURE_NAMES = (
    "horizon", "weekday", "day_of_year", "holiday_effect", "is_holiday",
    "discount", "on_promotion", "price", "discount_before", "store_code", "store_type",
    "region", "size_sqft", "category", "subcategory", "is_perishable", "list_price",
    "mean_7", "mean_28", "same_weekday_4", "last_day", "censored_share_28", "zero_share_28",
    "trend_7_28",
)
CATEGORICAL = ("weekday", "store_code", "store_type", "region", "category", "subcategory")


@dataclass
class Panel:
    """A dense history as (series x days) matrices."""

    series: pd.MultiIndex          # (store_id, product_id)
    days: pd.DatetimeIndex
    units: np.ndarray              # observed
    filled: np.ndarray             # censored days imputed
    usable: np.ndarray             # neither censored nor closed
    store_index: np.ndarray        # per series, into context.stores
    product_index: np.ndarray      # per series, into context.products

    @property
    def origin(self) -> pd.Timestamp:
        return self.days[-1]

    def tail(self, days: int) -> "Panel":
        """The same series over their last ``days`` days: a prediction reads only its
        lookback, so the features' running sums need not cover the whole history."""
        if days >= len(self.days):
            return self
        return Panel(self.series, self.days[-days:], self.units[:, -days:],
                     self.filled[:, -days:], self.usable[:, -days:], self.store_index,
                     self.product_index)


def history_days(history: pd.DataFrame) -> pd.DatetimeIndex:
    """The days of a dense history sorted by store, product, date: its first series' dates (every
    series holds every day once, in order), checked against its last series'; without that
    shape, the sorted distinct dates. A year at scale 1 is 26M rows: hashing every date to
    find the distinct ones costs a fraction of a second at each of the models' predictions."""
    dates = history[F.DATE].to_numpy()
    if len(dates):
        starts = np.flatnonzero(dates == dates[0])
        n_days = int(starts[1]) if len(starts) > 1 else len(dates)
        first = dates[:n_days]
        if (len(dates) % n_days == 0 and len(starts) == len(dates) // n_days
                and (n_days == 1 or bool((first[1:] > first[:-1]).all()))
                and np.array_equal(dates[-n_days:], first)):
            return pd.DatetimeIndex(first)
    return pd.DatetimeIndex(np.sort(history[F.DATE].unique()))


def build_panel(history: pd.DataFrame, context: F.ForecastContext,
                rule: CensoringRule = CensoringRule(), until: date | None = None,
                last_days: int | None = None) -> Panel:
    """The panel of a dense history sorted by store, product, date (``data.load_history``, or the
    same shape built by the closed loop), up to ``until`` when given, and only its last
    ``last_days`` days up to there when given (``build_panel(...).tail(last_days)``, without
    copying the history: a prediction reads its lookback only).

    A history without the censoring columns is marked here, on every day up to ``until`` (a
    day's marks depend on the weeks before it)."""
    if F.CENSORED not in history or "units_filled" not in history:
        if until is not None:
            history = history[history[F.DATE] <= pd.Timestamp(until)]
        history = censoring.mark_censoring(history, rule)
        until = None
    all_days = history_days(history)
    n_days = len(all_days)
    stop = n_days if until is None else int(all_days.searchsorted(pd.Timestamp(until), "right"))
    start = 0 if last_days is None else max(stop - int(last_days), 0)
    days = all_days[start:stop]

    def matrix(column: str, dtype) -> np.ndarray:
        values = history[column].to_numpy(dtype=dtype).reshape(-1, n_days)
        if (start, stop) == (0, n_days):
            return values
        return np.ascontiguousarray(values[:, start:stop])

    firsts = history.iloc[::n_days]
    series = pd.MultiIndex.from_arrays([firsts[F.STORE].astype(str).to_numpy(),
                                        firsts[F.PRODUCT].astype(str).to_numpy()])
    closed = np.array([context.holiday(d.date())[1] == 0.0 for d in days], dtype=bool)
    censored = matrix(F.CENSORED, bool)
    return Panel(
        series=series, days=days,
        units=matrix(F.UNITS, np.float32),
        filled=matrix("units_filled", np.float32),
        usable=~censored & ~closed[None, :],
        store_index=pd.Index(context.stores["store_id"].astype(str)).get_indexer(
            series.get_level_values(0)),
        product_index=pd.Index(context.products["product_id"].astype(str)).get_indexer(
            series.get_level_values(1)),
    )


def history_column_on(history: pd.DataFrame, column: str, day: pd.Timestamp) -> np.ndarray:
    """One column of a dense history on one day, per series (in the history's order)."""
    days = history_days(history)
    return history[column].to_numpy().reshape(-1, len(days))[:, days.get_loc(pd.Timestamp(day))]


def discount_matrix(plan: pd.DataFrame | None, context: F.ForecastContext,
                    days: pd.DatetimeIndex) -> np.ndarray:
    """(products x days) planned discount, products in the context's order."""
    return F.plan_discount(plan, context.products["product_id"].astype(str), days).T


def _codes(values: pd.Series) -> np.ndarray:
    return pd.Categorical(values.astype(str)).codes.astype(np.int32)


def _attributes(context: F.ForecastContext, store: np.ndarray, product: np.ndarray,
                list_price: np.ndarray) -> dict[str, np.ndarray]:
    """The store's and the product's own columns for rows of these stores and products."""
    products, stores = context.products, context.stores
    return {
        "store_code": store.astype(np.int32),
        "store_type": _codes(stores["store_type"])[store],
        "region": _codes(stores["region"])[store],
        "size_sqft": stores["size_sqft"].to_numpy(dtype=np.float32)[store],
        "category": _codes(products["category"])[product],
        "subcategory": _codes(products["subcategory"])[product],
        "is_perishable": products["is_perishable"].to_numpy().astype(np.int8)[product],
        "list_price": list_price.astype(np.float32),
    }


def features(panel: Panel, context: F.ForecastContext, rows: np.ndarray, origin_col: np.ndarray,
             horizon: np.ndarray, discounts: np.ndarray, discount_days: pd.DatetimeIndex
             ) -> pd.DataFrame:
    """Feature rows for (series ``rows``, origin column ``origin_col`` into the panel's days,
    ``horizon`` days ahead). ``discounts`` is (products x ``discount_days``) and must cover the
    target days. Everything from the series' history uses columns <= origin only."""
    cum = np.concatenate([np.zeros((panel.filled.shape[0], 1), np.float64),
                          np.cumsum(panel.filled, axis=1, dtype=np.float64)], axis=1)
    cens = np.concatenate([np.zeros((panel.filled.shape[0], 1), np.int32),
                           np.cumsum(~panel.usable, axis=1, dtype=np.int32)], axis=1)
    zeros = np.concatenate([np.zeros((panel.filled.shape[0], 1), np.int32),
                            np.cumsum(panel.units <= 0, axis=1, dtype=np.int32)], axis=1)

    def window_mean(matrix: np.ndarray, days: int) -> np.ndarray:
        end = origin_col + 1
        start = np.maximum(end - days, 0)
        return (matrix[rows, end] - matrix[rows, start]) / np.maximum(end - start, 1)

    mean_7, mean_28 = window_mean(cum, 7), window_mean(cum, 28)
    # The same weekday as the target in the four weeks up to the origin.
    latest = origin_col + horizon - 7 * np.ceil(horizon / 7).astype(int)
    same = np.zeros(len(rows))
    for back in range(4):
        same += panel.filled[rows, np.maximum(latest - 7 * back, 0)]
    same /= 4

    target = panel.days[0] + pd.to_timedelta(origin_col + horizon, unit="D")
    target = pd.DatetimeIndex(target)
    unique_targets = target.unique()
    effect = pd.Series([context.holiday(d.date())[1] for d in unique_targets], unique_targets)
    named = pd.Series([context.holiday(d.date())[0] is not None for d in unique_targets],
                      unique_targets)
    product = panel.product_index[rows]
    store = panel.store_index[rows]
    target_col = discount_days.get_indexer(target)
    discount = np.where(target_col >= 0, discounts[product, np.maximum(target_col, 0)], 0.0)
    origin_in_discounts = discount_days.get_indexer(panel.days[origin_col])
    discount_before = np.where(origin_in_discounts >= 0,
                               discounts[product, np.maximum(origin_in_discounts, 0)], 0.0)
    list_price = context.products["list_price"].to_numpy(dtype=float)[product]
    # float32: half the memory of a training matrix, and LightGBM bins features anyway.
    f32 = np.float32
    return pd.DataFrame({
        "horizon": horizon.astype(np.int16),
        "weekday": target.weekday.to_numpy().astype(np.int8),
        "day_of_year": target.dayofyear.to_numpy().astype(np.int16),
        "holiday_effect": effect.reindex(target).to_numpy().astype(f32),
        "is_holiday": named.reindex(target).to_numpy().astype(np.int8),
        "discount": discount.astype(f32),
        "on_promotion": (discount > 0).astype(np.int8),
        "price": (list_price * (1 - discount)).astype(f32),
        "discount_before": discount_before.astype(f32),
        **_attributes(context, store, product, list_price),
        "mean_7": mean_7.astype(f32), "mean_28": mean_28.astype(f32),
        "same_weekday_4": same.astype(f32),
        "last_day": panel.filled[rows, origin_col],
        "censored_share_28": window_mean(cens, 28).astype(f32),
        "zero_share_28": window_mean(zeros, 28).astype(f32),
        "trend_7_28": (mean_7 / np.maximum(mean_28, 0.05)).astype(f32),
    })[list(FEATURE_NAMES)]


def prediction_features(panel: Panel, context: F.ForecastContext, horizon: int,
                        discounts: np.ndarray) -> np.ndarray:
    """``features`` of every series at the panel's last day (the origin), horizons 1..``horizon``,
    rows in (series, horizon) order, as one float32 matrix (columns ``FEATURE_NAMES``; every
    value is the one ``features`` gives, and float32 holds each exactly).

    A daily prediction is 72k series x 14 days at scale 1: what depends on the series alone
    (levels, lags, store, product) is computed once per series, what depends on the target day
    alone (calendar, holiday) once per day, and only their combinations (the same weekday, the
    planned discount) per row. ``discounts`` is (products x 1 + ``horizon``): the discount on
    the origin (observed or planned), then the planned one of each target day."""
    n_series, n_cols = panel.filled.shape
    origin_col = n_cols - 1
    end = origin_col + 1
    zeros_column = np.zeros((n_series, 1))
    # The same running sums (and so the same floating-point results) as ``features``.
    cum = np.concatenate([zeros_column, np.cumsum(panel.filled, axis=1, dtype=np.float64)],
                         axis=1)
    cens = np.concatenate([zeros_column.astype(np.int32),
                           np.cumsum(~panel.usable, axis=1, dtype=np.int32)], axis=1)
    zeros = np.concatenate([zeros_column.astype(np.int32),
                            np.cumsum(panel.units <= 0, axis=1, dtype=np.int32)], axis=1)

    def window_mean(matrix: np.ndarray, days: int) -> np.ndarray:
        start = max(end - days, 0)
        return (matrix[:, end] - matrix[:, start]) / max(end - start, 1)

    mean_7, mean_28 = window_mean(cum, 7), window_mean(cum, 28)
    h = np.arange(1, horizon + 1)
    latest = origin_col + h - 7 * np.ceil(h / 7).astype(int)
    same = np.zeros((n_series, horizon))
    for back in range(4):
        same += panel.filled[:, np.maximum(latest - 7 * back, 0)]
    same /= 4

    target = pd.DatetimeIndex(panel.days[0] + pd.to_timedelta(origin_col + h, unit="D"))
    holidays = [context.holiday(d.date()) for d in target]
    product, store = panel.product_index, panel.store_index
    discount = discounts[product][:, 1:horizon + 1].astype(np.float64)
    list_price = context.products["list_price"].to_numpy(dtype=float)[product]
    f32 = np.float32
    per_series = {
        "discount_before": discounts[product, 0].astype(f32),
        **_attributes(context, store, product, list_price),
        "mean_7": mean_7.astype(f32), "mean_28": mean_28.astype(f32),
        "last_day": panel.filled[:, origin_col],
        "censored_share_28": window_mean(cens, 28).astype(f32),
        "zero_share_28": window_mean(zeros, 28).astype(f32),
        "trend_7_28": (mean_7 / np.maximum(mean_28, 0.05)).astype(f32),
    }
    per_day = {
        "horizon": h.astype(np.int16),
        "weekday": target.weekday.to_numpy().astype(np.int8),
        "day_of_year": target.dayofyear.to_numpy().astype(np.int16),
        "holiday_effect": np.array([effect for _, effect in holidays]).astype(f32),
        "is_holiday": np.array([name is not None for name, _ in holidays]).astype(np.int8),
    }
    per_row = {
        "discount": discount.astype(f32),
        "on_promotion": (discount > 0).astype(np.int8),
        "price": (list_price[:, None] * (1 - discount)).astype(f32),
        "same_weekday_4": same.astype(f32),
    }
    X = np.empty((n_series, horizon, len(FEATURE_NAMES)), dtype=f32)
    for j, name in enumerate(FEATURE_NAMES):
        if name in per_series:
            X[:, :, j] = per_series[name][:, None]
        elif name in per_day:
            X[:, :, j] = per_day[name][None, :]
        else:
            X[:, :, j] = per_row[name]
    return X.reshape(n_series * horizon, len(FEATURE_NAMES))
