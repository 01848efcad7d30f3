"""The aggregate levels: store x category, category, store and chain, from the bottom forecast.

Point forecasts are bottom-up sums (coherent by construction: a store's forecast is the sum of
its products'). Intervals are never summed: the sum of 80% bounds would be far wider than the
80% interval of the sum (errors of different products partly cancel). Each level has its own
variance model, var = a * mean + phi * mean**2, fitted on that level's residuals over a held-out
fortnight (``calibrate``: the model predicts the last 14 days of its training history from the
days before them, and the residuals are those of the aggregated forecast against the aggregated
censoring-imputed sales); the 80% interval is the negative binomial with that mean and variance.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from retailops.forecast import frames as F
from retailops.forecast.models import count_interval, dispersion_for, fit_variance

BOTTOM = "store_product"


def _level_keys(frame: pd.DataFrame, context: F.ForecastContext
                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per level, each row's key as an integer code and the keys' text by code, the codes
    numbered in the keys' text order (``<store_id>|<category>``, category, store_id, chain):
    rows are grouped on integers, and only the few thousand distinct keys are ever text."""
    def factorized(column: pd.Series) -> tuple[np.ndarray, Any]:
        # A categorical's codes as they are; other ids by their text.
        if isinstance(column.dtype, pd.CategoricalDtype):
            return pd.factorize(column)
        return pd.factorize(column.astype(str).to_numpy())

    store_codes, stores = factorized(frame[F.STORE])
    product_codes, products = factorized(frame[F.PRODUCT])
    category_of = context.category_of()
    product_category = (pd.Index(products.astype(str)).map(category_of).fillna("unknown")
                        .to_numpy(dtype=object))
    category_codes_of_product, categories = pd.factorize(product_category)
    category_codes = category_codes_of_product[product_codes]
    store_text = np.asarray(stores.astype(str), dtype=object)

    def numbered(codes: np.ndarray, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Renumber so that code order is the keys' text order (the groupby's sort).
        order = np.argsort(texts, kind="stable")
        rank = np.empty(len(texts), dtype=np.int64)
        rank[order] = np.arange(len(texts))
        return rank[codes], texts[order]

    n_categories = len(categories)
    pairs = store_codes.astype(np.int64) * n_categories + category_codes
    pair_codes, distinct_pairs = pd.factorize(pairs)
    pair_text = np.array([f"{store_text[p // n_categories]}|{categories[p % n_categories]}"
                          for p in distinct_pairs], dtype=object)
    return {
        "store_category": numbered(pair_codes, pair_text),
        "category": numbered(category_codes, np.asarray(categories, dtype=object)),
        "store": numbered(store_codes, store_text),
        "chain": (np.zeros(len(frame), dtype=np.int64), np.array(["chain"], dtype=object)),
    }


def aggregate_sums(frame: pd.DataFrame, value_columns: list[str], context: F.ForecastContext,
                   day_column: str = F.TARGET_DATE) -> pd.DataFrame:
    """Sums of ``value_columns`` per level, key and day: ``level, level_key, <day>, values``,
    sorted by key text then day within each level (pandas' groupby sums on integer keys: the
    same sums, in the same row order, as on the text keys)."""
    keys = _level_keys(frame, context)
    out = []
    for level in F.LEVELS:
        codes, texts = keys[level]
        keyed = frame[[day_column, *value_columns]].assign(level_code=codes)
        summed = keyed.groupby(["level_code", day_column], sort=True)[value_columns].sum()
        summed = summed.reset_index()
        level_key = texts[summed.pop("level_code").to_numpy()]
        summed.insert(0, "level_key", level_key)
        out.append(summed.assign(level=level))
    return pd.concat(out, ignore_index=True)


def level_forecast(bottom: pd.DataFrame, context: F.ForecastContext, model: str,
                   dispersion: dict[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    """The levels mart's rows for one model's bottom forecast (``frames.LEVELS_MART_COLUMNS``)."""
    dispersion = dispersion or {}
    sums = aggregate_sums(bottom, [F.UNITS], context)
    low = np.zeros(len(sums))
    high = np.zeros(len(sums))
    for level in F.LEVELS:
        at = (sums["level"] == level).to_numpy()
        a, phi = dispersion.get(level, (1.0, 0.0))
        mean = sums.loc[at, F.UNITS].to_numpy()
        low[at], high[at] = count_interval(mean, dispersion_for(mean, a, phi))
    sums[F.P10], sums[F.P90] = low, high
    sums["model"] = model
    return sums[list(F.LEVELS_MART_COLUMNS)]


def calibrate(forecaster, history: pd.DataFrame, plan: pd.DataFrame | None,
              context: F.ForecastContext, holdout_days: int = 14) -> dict[str, tuple[float, float]]:
    """Variance models per level (bottom included) from the forecaster's errors on the last
    ``holdout_days`` of ``history``, predicted from the days before them. The history must carry
    the censoring columns (``censoring.mark_censoring``): censored days are left out at the
    bottom, and the imputed units stand in for them in the sums."""
    last = pd.Timestamp(history[F.DATE].max())
    origin = (last - timedelta(days=holdout_days)).date()
    predicted = forecaster.predict(history, origin, holdout_days, plan, context)
    actual = history[history[F.DATE] > pd.Timestamp(origin)].rename(
        columns={F.DATE: F.TARGET_DATE})
    actual = actual[[F.STORE, F.PRODUCT, F.TARGET_DATE, "units_filled", F.CENSORED]]
    actual = actual.astype({F.STORE: str, F.PRODUCT: str})
    joined = predicted.merge(actual, on=[F.STORE, F.PRODUCT, F.TARGET_DATE])
    out: dict[str, tuple[float, float]] = {}
    usable = ~joined[F.CENSORED].to_numpy(dtype=bool)
    out[BOTTOM] = fit_variance(joined["units_filled"].to_numpy()[usable],
                               joined[F.UNITS].to_numpy()[usable])
    sums = aggregate_sums(joined, [F.UNITS, "units_filled"], context)
    for level in F.LEVELS:
        at = sums[sums["level"] == level]
        out[level] = fit_variance(at["units_filled"].to_numpy(), at[F.UNITS].to_numpy())
    return out
