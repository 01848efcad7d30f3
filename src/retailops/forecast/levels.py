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

import numpy as np
import pandas as pd

from retailops.forecast import frames as F
from retailops.forecast.models import count_interval, dispersion_for, fit_variance

BOTTOM = "store_product"


def _keys(frame: pd.DataFrame, level: str, category: pd.Series) -> pd.Series:
    if level == "store_category":
        return frame[F.STORE].astype(str) + "|" + category
    if level == "category":
        return category
    if level == "store":
        return frame[F.STORE].astype(str)
    if level == "chain":
        return pd.Series("chain", index=frame.index)
    raise ValueError(f"unknown level {level!r}")


def aggregate_sums(frame: pd.DataFrame, value_columns: list[str], context: F.ForecastContext,
                   day_column: str = F.TARGET_DATE) -> pd.DataFrame:
    """Sums of ``value_columns`` per level, key and day: ``level, level_key, <day>, values``."""
    category = frame[F.PRODUCT].astype(str).map(context.category_of()).fillna("unknown")
    out = []
    for level in F.LEVELS:
        keyed = frame[[day_column, *value_columns]].assign(level_key=_keys(frame, level,
                                                                           category).to_numpy())
        summed = keyed.groupby(["level_key", day_column], sort=True)[value_columns].sum()
        out.append(summed.reset_index().assign(level=level))
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
