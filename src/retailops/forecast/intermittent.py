"""The statistical model for intermittent series: a statsforecast model per store x product.

Most store x product series sell a few units a day or less, with many zero days: Croston-type
models (CrostonSBA, TSB, ADIDA, IMAPA) forecast such a series' level. TSB, the default, runs
statsforecast's recursion vectorized across series (``tsb_level``); the others run in
statsforecast. They know no weekday,
holiday or promotion, so the series is first made weekday-neutral (divided by the chain's
weekday profile) and the level is multiplied back by the profile and the retailer's holiday
effect of each target day. Censored days enter as their imputed value (``forecast.censoring``),
so a stock-out does not pull the level down. The model is local: "fitting" only measures the
weekday profile (the stage calibrates the intervals, ``forecast.levels.calibrate``); each
prediction fits the series up to its origin.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retailops.forecast import frames as F
from retailops.forecast.censoring import CensoringRule, weekday_profile
from retailops.forecast.features import build_panel
from retailops.forecast.models import count_interval, dispersion_for, forecast_frame

STATSFORECAST_MODELS = ("CrostonSBA", "TSB", "ADIDA", "IMAPA")


# TSB's smoothing of the demand size and of the probability of a sale.
TSB_ALPHA_D, TSB_ALPHA_P = 0.1, 0.1


def _model(name: str):
    from statsforecast import models

    if name == "TSB":
        return models.TSB(alpha_d=TSB_ALPHA_D, alpha_p=TSB_ALPHA_P)
    if name not in STATSFORECAST_MODELS:
        raise ValueError(f"intermittent.model: {name!r} is not one of "
                         f"{', '.join(STATSFORECAST_MODELS)}")
    return getattr(models, name)()


def tsb_level(values: np.ndarray, alpha_d: float = TSB_ALPHA_D,
              alpha_p: float = TSB_ALPHA_P) -> np.ndarray:
    """TSB's level of every row of a (series x days) matrix at once: statsforecast's recursion
    (simple exponential smoothing of the sale probability over every day, and of the demand
    size over the days with a sale, each started at its first value; 0 for a series without a
    sale), one numpy step per day across all series. statsforecast runs it series by series in
    a Python loop: ~70 s for a year's 72k series on these cores, against ~1 s here. The test
    checks it against statsforecast's TSB."""
    x = np.asarray(values, dtype=np.float64)
    probability = (x[:, 0] != 0).astype(np.float64)
    size = np.full(x.shape[0], np.nan)
    for j in range(x.shape[1]):
        day = x[:, j]
        probability = alpha_p * (day != 0) + (1 - alpha_p) * probability
        sold = day > 0
        first = sold & np.isnan(size)
        size[first] = day[first]
        size[sold] = alpha_d * day[sold] + (1 - alpha_d) * size[sold]
    return np.clip(np.where(np.isnan(size), 0.0, probability * size), 0, None)


def level_forecast(values: np.ndarray, horizon: int, model: str, n_jobs: int = 1) -> np.ndarray:
    """(series x horizon) forecasts of a (series x days) matrix with one statsforecast model
    (TSB vectorized across series: ``tsb_level``; its forecast is flat over the horizon)."""
    if model == "TSB":
        return np.repeat(tsb_level(values)[:, None], horizon, axis=1)
    from statsforecast import StatsForecast

    n_series, n_days = values.shape
    frame = pd.DataFrame({"unique_id": np.repeat(np.arange(n_series), n_days),
                          "ds": np.tile(np.arange(n_days), n_series),
                          "y": values.ravel().astype(np.float64)})
    engine = StatsForecast(models=[_model(model)], freq=1, n_jobs=n_jobs)
    out = engine.forecast(df=frame, h=horizon)
    column = [c for c in out.columns if c not in ("unique_id", "ds")][0]
    out = out.sort_values(["unique_id", "ds"])
    return np.clip(out[column].to_numpy().reshape(n_series, horizon), 0, None)


class IntermittentForecaster:
    name = "intermittent"
    min_history_days = 28

    def __init__(self, model: str = "ADIDA", window_days: int = 112, n_jobs: int = 1,
                 censoring: dict | None = None):
        # Fail early on an unknown name; statsforecast itself (~2 s to import) is imported
        # only by a model that runs in it (TSB runs in numpy: tsb_level).
        if model not in STATSFORECAST_MODELS:
            _model(model)
        self.model, self.window_days, self.n_jobs = model, int(window_days), int(n_jobs)
        self.rule = CensoringRule(**(censoring or {}))
        self.profile = np.ones(7)
        self.dispersion: dict[str, tuple[float, float]] = {}
        self.training: dict = {}

    @property
    def lookback_days(self) -> int:
        """Days before the origin (inclusive) a prediction reads."""
        return self.window_days

    def fit(self, history, plan, context) -> "IntermittentForecaster":
        panel = build_panel(history, context, self.rule)
        self.profile = weekday_profile(panel.filled, panel.usable, panel.days)
        self.training = {"first_day": str(panel.days[0].date()),
                         "last_day": str(panel.days[-1].date()), "model": self.model}
        return self

    def _predict_panel(self, panel, horizon: int, context) -> np.ndarray:
        days = F.target_days(panel.days[-1].date(), horizon)
        window = panel.filled[:, -self.window_days:]
        window_days = panel.days[-self.window_days:]
        neutral = window / self.profile[window_days.weekday][None, :]
        level = level_forecast(neutral, horizon, self.model, self.n_jobs)
        effect = np.array([context.holiday(d.date())[1] for d in days])
        return level * (self.profile[days.weekday] * effect)[None, :]

    def predict(self, history, origin, horizon, plan, context) -> pd.DataFrame:
        # Only the window the model reads (and the origin) is taken from the history.
        panel = build_panel(history, context, self.rule, until=origin,
                            last_days=self.window_days)
        mean = self._predict_panel(panel, horizon, context)
        a, phi = self.dispersion.get("store_product", (1.0, 0.0))
        low, high = count_interval(mean, dispersion_for(mean, a, phi))
        return forecast_frame(panel.series, F.target_days(panel.days[-1].date(), horizon),
                              mean, low, high)
