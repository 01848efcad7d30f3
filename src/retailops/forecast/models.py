"""The forecasters: the ``Forecaster`` protocol, the seasonal-naive baseline and the registry.

A forecaster is fitted on a history frame (``forecast.frames``) and predicts the days after an
origin for every store x product of the history. The statistical model for intermittent series
(``forecast.intermittent``) and the global LightGBM model (``forecast.gbm``) live in their own
modules, imported only when the registry builds them (statsforecast and lightgbm are slow to
import and other pipelines never need them).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Mapping, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from retailops.errors import InvalidParameterError
from retailops.forecast import frames as F

MODEL_NAMES = ("seasonal_naive", "intermittent", "lightgbm")


@runtime_checkable
class Forecaster(Protocol):
    """A demand model. ``origin`` is the last day of known history; the forecast covers
    origin+1 .. origin+horizon; ``plan`` is the promotion plan as known on ``origin``;
    ``predict`` uses only history up to ``origin``."""

    name: str

    def fit(self, history: pd.DataFrame, plan: pd.DataFrame | None,
            context: F.ForecastContext) -> "Forecaster": ...

    def predict(self, history: pd.DataFrame, origin: date, horizon: int,
                plan: pd.DataFrame | None, context: F.ForecastContext) -> pd.DataFrame: ...


def count_interval(mean: np.ndarray, dispersion: float | np.ndarray = 0.0,
                   coverage: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Central interval of a count with this mean: Poisson when ``dispersion`` is 0, else a
    negative binomial with variance mean + dispersion * mean**2 (daily unit sales are
    over-dispersed: a sale line carries 1 + Poisson(0.25) units, and the mean itself is uncertain).
    """
    mean = np.maximum(np.asarray(mean, dtype=float), 0.0)
    low_q, high_q = (1 - coverage) / 2, 1 - (1 - coverage) / 2
    dispersion = np.broadcast_to(np.asarray(dispersion, dtype=float), mean.shape)
    low, high = np.zeros_like(mean), np.zeros_like(mean)
    # Small means (nearly every store x product x day): the quantiles by summing the pmf.
    small = (mean > 0) & (mean <= _SUMMED_MEAN_MAX)
    if small.any():
        low[small], high[small] = _summed_quantiles(mean[small], dispersion[small], low_q,
                                                    high_q)
    positive = mean > _SUMMED_MEAN_MAX
    poisson = positive & (dispersion <= 1e-9)
    negbin = positive & ~poisson
    if poisson.any() or negbin.any():
        # Imported here: scipy.stats takes ~1 CPU-s to import, and the forecast stage imports
        # it (through LightGBM) on a thread beside its read (``forecast.prefetch``).
        from scipy import stats
    if poisson.any():
        low[poisson] = stats.poisson.ppf(low_q, mean[poisson])
        high[poisson] = stats.poisson.ppf(high_q, mean[poisson])
    if negbin.any():
        size = 1.0 / dispersion[negbin]
        prob = size / (size + mean[negbin])
        low[negbin] = stats.nbinom.ppf(low_q, size, prob)
        high[negbin] = stats.nbinom.ppf(high_q, size, prob)
    # The quantiles of a count are whole numbers; a slow seller (mean 0.05: P(0) > 0.9) has
    # p90 = 0 below its mean. The interval is widened to hold the point forecast.
    return np.minimum(low, mean), np.maximum(high, mean)


# Means up to this get their quantiles from ``_summed_quantiles``; larger ones from scipy.
_SUMMED_MEAN_MAX = 30.0


def _summed_quantiles(mean: np.ndarray, dispersion: np.ndarray, low_q: float, high_q: float,
                      max_count: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """The ``low_q`` and ``high_q`` quantiles (smallest k with cdf(k) >= q) of Poisson
    (dispersion 0) or negative binomial counts, by summing the pmf k = 0, 1, ... with its
    recursion, all cells at once: scipy's ppf takes ~3-5 s for the million cells of a daily
    forecast, this a fraction of a second. Cells not resolved by ``max_count`` use scipy."""
    poisson = dispersion <= 1e-9
    size = np.where(poisson, 1.0, 1.0 / np.where(poisson, 1.0, dispersion))
    prob = size / (size + mean)
    # pmf(0), and the factor from pmf(k) to pmf(k+1) is ratio(k) below.
    with np.errstate(under="ignore"):
        pmf = np.where(poisson, np.exp(-mean), np.exp(size * np.log(prob)))
    cdf = pmf.copy()
    low = np.full(mean.shape, -1.0)
    high = np.full(mean.shape, -1.0)
    active = np.arange(len(mean))
    for k in range(max_count):
        c = cdf[active]
        low_done = (low[active] < 0) & (c >= low_q)
        low[active[low_done]] = k
        high_done = c >= high_q
        high[active[high_done]] = k
        active = active[~high_done]
        if not len(active):
            break
        m, r, pr, po = mean[active], size[active], prob[active], poisson[active]
        step = np.where(po, m / (k + 1), (k + r) / (k + 1) * (1 - pr))
        pmf[active] *= step
        cdf[active] += pmf[active]
    left = high < 0
    if left.any():
        from scipy import stats

        for out, q in ((low, low_q), (high, high_q)):
            nb = left & ~poisson
            out[left & poisson] = stats.poisson.ppf(q, mean[left & poisson])
            out[nb] = stats.nbinom.ppf(q, size[nb], prob[nb])
    return low, high


def fit_variance(actual: np.ndarray, mean: np.ndarray,
                 weight: np.ndarray | None = None) -> tuple[float, float]:
    """``(a, phi)`` of var = a * mean + phi * mean**2, by least squares on squared residuals
    (a >= 1: no count is less dispersed than Poisson here; phi >= 0)."""
    actual, mean = np.asarray(actual, float), np.asarray(mean, float)
    weight = np.ones_like(mean) if weight is None else np.asarray(weight, float)
    ok = mean > 1e-6
    if ok.sum() < 10:
        return 1.0, 0.0
    r2 = (actual[ok] - mean[ok]) ** 2
    A = np.column_stack([mean[ok], mean[ok] ** 2]) * np.sqrt(weight[ok])[:, None]
    coef, *_ = np.linalg.lstsq(A, r2 * np.sqrt(weight[ok]), rcond=None)
    a, phi = float(max(coef[0], 1.0)), float(max(coef[1], 0.0))
    return a, phi


def dispersion_for(mean: np.ndarray, a: float, phi: float) -> np.ndarray:
    """The negative-binomial dispersion matching var = a*mean + phi*mean**2 at each mean:
    var = mean + d*mean**2  =>  d = phi + (a - 1) / mean."""
    return phi + (a - 1.0) / np.maximum(mean, 1e-6)


def series_matrix(history: pd.DataFrame, column: str, days: pd.DatetimeIndex,
                  series: pd.MultiIndex | None = None) -> tuple[pd.MultiIndex, np.ndarray]:
    """A (series x days) float matrix of one history column; NaN where the history has no row.

    Series are (store_id, product_id) pairs, sorted, unless ``series`` gives them.
    """
    if series is None:
        series = pd.MultiIndex.from_frame(
            history[[F.STORE, F.PRODUCT]].drop_duplicates().sort_values([F.STORE, F.PRODUCT]))
    window = history[(history[F.DATE] >= days[0]) & (history[F.DATE] <= days[-1])]
    row = series.get_indexer(pd.MultiIndex.from_frame(window[[F.STORE, F.PRODUCT]]))
    col = days.get_indexer(window[F.DATE])
    keep = (row >= 0) & (col >= 0)
    out = np.full((len(series), len(days)), np.nan)
    out[row[keep], col[keep]] = window[column].to_numpy(dtype=float)[keep]
    return series, out


def forecast_frame(series: pd.MultiIndex, days: pd.DatetimeIndex, mean: np.ndarray,
                   low: np.ndarray, high: np.ndarray) -> pd.DataFrame:
    """The bottom-level forecast frame from (series x days) arrays."""
    n_series, n_days = mean.shape
    return pd.DataFrame({
        F.STORE: np.repeat(series.get_level_values(0).to_numpy(), n_days),
        F.PRODUCT: np.repeat(series.get_level_values(1).to_numpy(), n_days),
        F.TARGET_DATE: np.tile(days.to_numpy(), n_series),
        F.UNITS: mean.ravel(), F.P10: low.ravel(), F.P90: high.ravel(),
    })


def usable_units(history: pd.DataFrame) -> pd.Series:
    """Observed units, NaN on days a stock-out cut the sales (when the history flags them) and
    on days the chain did not trade: such days say nothing about demand."""
    units = history[F.UNITS].astype(float)
    if F.CENSORED in history:
        units = units.where(~history[F.CENSORED].astype(bool))
    if F.CLOSED in history:
        units = units.where(~history[F.CLOSED].astype(bool))
    return units


class SeasonalNaive:
    """Same weekday, last week: the baseline every model must beat.

    A censored (stock-out) or closed day is skipped for the same weekday of the week before, up
    to ``weeks`` weeks back, so a stock-out does not repeat itself in the forecast. Intervals are
    Poisson around the point (the baseline has no dispersion model).
    """

    name = "seasonal_naive"
    min_history_days = 28

    def __init__(self, weeks: int = 4, censoring: Mapping[str, Any] | None = None):
        from retailops.forecast.censoring import CensoringRule

        self.weeks = int(weeks)
        self.rule = CensoringRule(**dict(censoring or {}))
        self.dispersion: dict[str, tuple[float, float]] = {}

    @property
    def lookback_days(self) -> int:
        """Days before the origin (inclusive) a prediction reads."""
        return 7 * self.weeks

    def fit(self, history, plan, context) -> "SeasonalNaive":
        return self  # nothing to learn

    def predict(self, history, origin, horizon, plan, context) -> pd.DataFrame:
        from retailops.forecast.features import build_panel

        origin = pd.Timestamp(origin)
        panel = build_panel(history, context, self.rule, until=origin.date(),
                            last_days=7 * self.weeks)
        keep = min(7 * self.weeks, len(panel.days))
        past = panel.days[-keep:]
        series = panel.series
        # Censored and closed days say nothing about demand: NaN, skipped below.
        values = np.where(panel.usable[:, -keep:], panel.units[:, -keep:], np.nan)
        days = F.target_days(origin.date(), horizon)
        # Column of the same weekday in the last week of the window, then one week back each time.
        mean = np.full((len(series), horizon), np.nan)
        for h, day in enumerate(days):
            last_week_col = len(past) - 7 + (day - past[-7]).days % 7
            for back in range(self.weeks):
                col = last_week_col - 7 * back
                if col < 0:
                    break
                fill = np.isnan(mean[:, h]) & ~np.isnan(values[:, col])
                mean[fill, h] = values[fill, col]
        mean = np.nan_to_num(mean, nan=0.0)
        closed = np.array([context.holiday(d.date())[1] == 0.0 for d in days]) if context else None
        if closed is not None and closed.any():
            mean[:, closed] = 0.0
        a, phi = self.dispersion.get("store_product", (1.0, 0.0))
        low, high = count_interval(mean, dispersion_for(mean, a, phi))
        return forecast_frame(series, days, mean, low, high)


def forecasters(params: Mapping[str, Any] | None = None) -> dict[str, Forecaster]:
    """The models named in ``params["models"]`` (default: all), built from their parameters
    ``params[<name>]``. Keys are the model names written to the forecast mart."""
    params = dict(params or {})
    names = params.get("models") or MODEL_NAMES
    if isinstance(names, str):  # --params forecast.models=[a,b] may arrive as text
        names = [n.strip() for n in names.strip("[]").split(",") if n.strip()]
    names = list(names)
    out: dict[str, Forecaster] = {}
    for name in names:
        options = dict(params.get(name) or {})
        # One censoring rule for every model (params["censoring"]), unless a model sets its own.
        if params.get("censoring") is not None:
            options.setdefault("censoring", dict(params["censoring"]))
        if name == "seasonal_naive":
            out[name] = SeasonalNaive(**options)
        elif name == "intermittent":
            from retailops.forecast.intermittent import IntermittentForecaster

            out[name] = IntermittentForecaster(**options)
        elif name == "lightgbm":
            from retailops.forecast.gbm import LightGBMForecaster

            out[name] = LightGBMForecaster(**options)
        else:
            raise InvalidParameterError(
                f"forecast.models: unknown model {name!r} (known: {', '.join(MODEL_NAMES)})")
    return out
