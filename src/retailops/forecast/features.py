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


def build_panel(history: pd.DataFrame, context: F.ForecastContext,
                rule: CensoringRule = CensoringRule(), until: date | None = None) -> Panel:
    """The panel of a dense history sorted by store, product, date (``data.load_history``, or the
    same shape built by the closed loop), up to ``until`` when given."""
    if until is not None:
        history = history[history[F.DATE] <= pd.Timestamp(until)]
    if F.CENSORED not in history or "units_filled" not in history:
        history = censoring.mark_censoring(history, rule)
    days = pd.DatetimeIndex(np.sort(history[F.DATE].unique()))
    n_days = len(days)
    firsts = history.iloc[::n_days]
    series = pd.MultiIndex.from_arrays([firsts[F.STORE].astype(str).to_numpy(),
                                        firsts[F.PRODUCT].astype(str).to_numpy()])
    closed = np.array([context.holiday(d.date())[1] == 0.0 for d in days])
    censored = history[F.CENSORED].to_numpy(dtype=bool).reshape(-1, n_days)
    return Panel(
        series=series, days=days,
        units=history[F.UNITS].to_numpy(dtype=np.float32).reshape(-1, n_days),
        filled=history["units_filled"].to_numpy(dtype=np.float32).reshape(-1, n_days),
        usable=~censored & ~closed[None, :],
        store_index=pd.Index(context.stores["store_id"].astype(str)).get_indexer(
            series.get_level_values(0)),
        product_index=pd.Index(context.products["product_id"].astype(str)).get_indexer(
            series.get_level_values(1)),
    )


def discount_matrix(plan: pd.DataFrame | None, context: F.ForecastContext,
                    days: pd.DatetimeIndex) -> np.ndarray:
    """(products x days) planned discount, products in the context's order."""
    return F.plan_discount(plan, context.products["product_id"].astype(str), days).T


def _codes(values: pd.Series) -> np.ndarray:
    return pd.Categorical(values.astype(str)).codes.astype(np.int32)


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
    products, stores = context.products, context.stores
    list_price = products["list_price"].to_numpy(dtype=float)[product]
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
        "store_code": store.astype(np.int32),
        "store_type": _codes(stores["store_type"])[store],
        "region": _codes(stores["region"])[store],
        "size_sqft": stores["size_sqft"].to_numpy(dtype=f32)[store],
        "category": _codes(products["category"])[product],
        "subcategory": _codes(products["subcategory"])[product],
        "is_perishable": products["is_perishable"].to_numpy().astype(np.int8)[product],
        "list_price": list_price.astype(f32),
        "mean_7": mean_7.astype(f32), "mean_28": mean_28.astype(f32),
        "same_weekday_4": same.astype(f32),
        "last_day": panel.filled[rows, origin_col],
        "censored_share_28": window_mean(cens, 28).astype(f32),
        "zero_share_28": window_mean(zeros, 28).astype(f32),
        "trend_7_28": (mean_7 / np.maximum(mean_28, 0.05)).astype(f32),
    })[list(FEATURE_NAMES)]
