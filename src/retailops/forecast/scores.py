"""Forecast accuracy: WAPE, MASE and bias per model and level, against observed sales and
against the simulation's true demand.

Definitions (all pooled over every series, target day and origin of a backtest; ``f`` forecast,
``a`` actual, both summed to the level first — a level's forecast is the sum of its bottom
forecasts, its actual the sum of its bottom actuals):

- **WAPE** = Σ|f − a| / Σa.
- **bias** = Σ(f − a) / Σa (negative: under-forecast).
- **MASE** = Σ|f − a| / Σ_{series, origin} h · s, where ``s`` is the series' in-sample MAE of the
  seasonal-naive (7-day) forecast over the *observed* training history up to that origin (at
  that level), and ``h`` the number of scored target days. That is the forecast's MAE divided by
  the mean seasonal-naive in-sample MAE of the same series: pooled rather than a mean of per-series
  ratios, so intermittent series whose scale is 0 do not divide by zero and slow movers do not
  dominate. The same denominator serves both ``against`` values (it is what a forecaster can
  know), so MASE against observed and against true demand differ only in their numerator.

Levels: ``store_product`` (the bottom), ``store_category``, ``category``, ``store``, ``chain``,
with the level keys of the forecast levels mart (``<store_id>|<category>``, ``<category>``,
``<store_id>``, ``chain``; ``<store_id>|<product_id>`` at the bottom).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

LEVELS = ("store_product", "store_category", "category", "store", "chain")
# against -> the panel column holding that actual
AGAINST = {"observed": "observed_units", "true_demand": "demanded_units"}
ORACLE = "oracle"
SEASON_DAYS = 7
ACCURACY_COLUMNS = ("model", "level", "against", "origins", "horizon_days", "wape", "mase",
                    "bias", "oracle_wape", "wape_ratio_to_oracle")


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    total = float(np.sum(actual))
    return float(np.sum(np.abs(np.asarray(forecast) - actual))) / total if total else float("nan")


def bias(actual: np.ndarray, forecast: np.ndarray) -> float:
    total = float(np.sum(actual))
    return float(np.sum(np.asarray(forecast) - actual)) / total if total else float("nan")


def mase(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> float:
    """``scale`` holds, for each scored row, the in-sample seasonal-naive MAE of its series."""
    denominator = float(np.sum(scale))
    error = float(np.sum(np.abs(np.asarray(forecast) - actual)))
    return error / denominator if denominator else float("nan")


def level_keys(store_id: pd.Series, product_id: pd.Series, level: str,
               category_of: Mapping[str, str] | pd.Series) -> np.ndarray:
    """The level key of each bottom row (store_id, product_id) at ``level``.

    Keys are built once per distinct store, product or pair and taken per row (millions of rows
    share a few thousand keys; categorical ids are never turned into text row by row)."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; known: {LEVELS}")
    store_code, stores = _factorized(store_id)
    if level == "chain":
        return np.full(len(store_code), "chain", dtype=object)
    if level == "store":
        return stores[store_code]
    product_code, products = _factorized(product_id)
    if level == "store_product":
        pair_code, pairs = pd.factorize(store_code.astype(np.int64) * len(products)
                                        + product_code)
        keys = stores[pairs // len(products)] + "|" + products[pairs % len(products)]
        return keys.astype(object)[pair_code]
    categories = pd.Series(category_of) if not isinstance(category_of, pd.Series) else category_of
    category = pd.Series(products).map(categories)
    if category.isna().any():
        unknown = products[category.isna().to_numpy()][0]
        raise ValueError(f"product {unknown} has no category in the product dimension")
    category = category.to_numpy(dtype=object)
    if level == "category":
        return category[product_code]
    pair_code, pairs = pd.factorize(store_code.astype(np.int64) * len(products) + product_code)
    keys = stores[pairs // len(products)] + "|" + category[pairs % len(products)]
    return keys.astype(object)[pair_code]


def _factorized(ids: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of each row and the distinct ids as text (categoricals through their codes)."""
    ids = pd.Series(ids, copy=False)
    if isinstance(ids.dtype, pd.CategoricalDtype):
        return (ids.cat.codes.to_numpy(),
                np.asarray(ids.cat.categories.astype(str), dtype=object))
    codes, uniques = pd.factorize(ids.astype(str))
    return codes, np.asarray(uniques, dtype=object)


# --- the seasonal-naive scale -----------------------------------------------------------------

@dataclass(frozen=True)
class DenseHistory:
    """Observed units as a cells × days matrix (zeros where nothing was recorded)."""

    store_id: np.ndarray     # per cell
    product_id: np.ndarray   # per cell
    first_day: pd.Timestamp
    units: np.ndarray        # float64, cells × days

    @classmethod
    def from_history(cls, history: pd.DataFrame, last_day=None) -> "DenseHistory":
        """The history's days up to ``last_day`` (all when None), read column by column: a
        year's history is never copied whole, and categorical ids stay codes."""
        dates = pd.to_datetime(history["date"]).to_numpy(dtype="datetime64[D]")
        keep = None if last_day is None else dates <= np.datetime64(pd.Timestamp(last_day), "D")

        def column(name: str):
            values = history[name]
            return values if keep is None else values[keep]

        store_code, stores = _sorted_codes(column("store_id"))
        product_code, products = _sorted_codes(column("product_id"))
        if keep is not None:
            dates = dates[keep]
        first = dates.min()
        day = (dates - first).astype(np.int64)
        n_days = int(day.max()) + 1
        n_products = len(products)
        cell = store_code.astype(np.int64) * n_products + product_code
        n_cells = len(stores) * n_products
        units = np.bincount(cell * n_days + day,
                            weights=column("units").to_numpy(dtype=float),
                            minlength=n_cells * n_days).reshape(n_cells, n_days)
        store_of_cell = np.repeat(stores, n_products)
        product_of_cell = np.tile(products, len(stores))
        return cls(store_of_cell, product_of_cell, pd.Timestamp(first), units)


def _sorted_codes(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes into the ids present, sorted as text (as ``pd.Categorical`` of the text sorts them)."""
    codes, uniques = _factorized(ids)
    present = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(uniques)) > 0)
    order = present[np.argsort(uniques[present], kind="stable")]
    remap = np.full(len(uniques), -1, dtype=np.int64)
    remap[order] = np.arange(len(order))
    return remap[codes], uniques[order]


def seasonal_naive_scales(dense: DenseHistory, origins: Iterable, level: str,
                          category_of: Mapping[str, str] | pd.Series,
                          season: int = SEASON_DAYS) -> pd.DataFrame:
    """Per origin and level key: the mean |y_t − y_{t−season}| over the observed history from its
    first day up to the origin (inclusive), at that level. Columns ``origin, level_key, scale``."""
    keys = level_keys(pd.Series(dense.store_id), pd.Series(dense.product_id), level, category_of)
    codes, unique_keys = pd.factorize(keys)
    if len(unique_keys) == len(keys):
        # one series per cell: factorize numbered them in order, so no reordering copy
        summed = dense.units
    else:
        # keys × cells indicator times cells × days: the level's daily totals in one product
        from scipy import sparse
        indicator = sparse.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))),
                                      shape=(len(unique_keys), len(codes)))
        summed = np.asarray(indicator @ dense.units)
    frames = []
    # Sums of |change| up to each origin, a block of days at a time (no running-sum matrix:
    # units are whole numbers, so these sums are exact in any order).
    done, running = 0, np.zeros(summed.shape[0])
    for origin in sorted(origins, key=pd.Timestamp):
        last = (pd.Timestamp(origin) - dense.first_day).days   # index of the origin's day
        changes = last - season + 1
        if changes < 1 or last >= dense.units.shape[1]:
            raise ValueError(f"origin {origin} needs more than {season} days of history "
                             f"within the history given")
        for start in range(done, changes, 32):
            stop = min(start + 32, changes)
            running += np.abs(summed[:, start + season:stop + season]
                              - summed[:, start:stop]).sum(axis=1)
        done = max(done, changes)
        frames.append(pd.DataFrame({"origin": pd.Timestamp(origin), "level_key": unique_keys,
                                    "scale": running / changes}))
    return pd.concat(frames, ignore_index=True)


# --- the accuracy table -----------------------------------------------------------------------

def aggregate(panel: pd.DataFrame, level: str, category_of: Mapping[str, str] | pd.Series,
              value_columns: list[str]) -> pd.DataFrame:
    """Sum the bottom-level panel to ``level``: one row per origin × level key × target day."""
    keyed = pd.DataFrame({"origin": panel["origin"].to_numpy(),
                          "level_key": level_keys(panel["store_id"], panel["product_id"], level,
                                                  category_of),
                          "target_date": panel["target_date"].to_numpy()})
    for column in value_columns:
        keyed[column] = panel[column].to_numpy(dtype=float)
    if level == "store_product":
        return keyed
    return keyed.groupby(["origin", "level_key", "target_date"], sort=False,
                         as_index=False)[value_columns].sum()


def score_panel(panel: pd.DataFrame, models: list[str], dense: DenseHistory,
                category_of: Mapping[str, str] | pd.Series, horizon: int,
                levels: Iterable[str] = LEVELS) -> pd.DataFrame:
    """The accuracy table of a backtest panel.

    ``panel``: one row per origin × store × product × target day with ``observed_units``,
    ``demanded_units`` and one forecast column per name in ``models`` (the oracle included, named
    ``oracle``). ``dense``: the observed history (for the MASE scales). Returns the columns of
    ``ACCURACY_COLUMNS``, one row per model × level × against.
    """
    origins = sorted(panel["origin"].unique())
    value_columns = list(AGAINST.values()) + list(models)
    rows = []
    for level in levels:
        summed = aggregate(panel, level, category_of, value_columns)
        scales = seasonal_naive_scales(dense, origins, level, category_of)
        summed = summed.merge(scales, on=["origin", "level_key"], how="left")
        scale = summed["scale"].fillna(0.0).to_numpy()
        for against, actual_column in AGAINST.items():
            actual = summed[actual_column].to_numpy()
            oracle_wape = wape(actual, summed[ORACLE].to_numpy()) if ORACLE in models else np.nan
            for model in models:
                forecast = summed[model].to_numpy()
                model_wape = wape(actual, forecast)
                rows.append({
                    "model": model, "level": level, "against": against,
                    "origins": len(origins), "horizon_days": int(horizon),
                    "wape": model_wape, "mase": mase(actual, forecast, scale),
                    "bias": bias(actual, forecast), "oracle_wape": oracle_wape,
                    "wape_ratio_to_oracle": (model_wape / oracle_wape
                                             if oracle_wape and np.isfinite(oracle_wape)
                                             else np.nan),
                })
    table = pd.DataFrame(rows, columns=list(ACCURACY_COLUMNS))
    return table.astype({"origins": "int32", "horizon_days": "int32"})
