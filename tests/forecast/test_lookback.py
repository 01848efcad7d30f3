"""A day that only predicts reads the models' lookback (``run.predict_days``), not the whole
history: the forecasts must not change. And TSB, computed across all series at once
(``intermittent.tsb_level``), must be statsforecast's TSB."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from retailops.forecast import frames as F
from retailops.forecast.censoring import mark_censoring
from retailops.forecast.intermittent import level_forecast, tsb_level
from retailops.forecast.models import forecasters
from retailops.forecast.run import predict_days

FIRST = date(2024, 2, 5)
DAYS = 240
PARAMS = {"models": ["seasonal_naive", "intermittent", "lightgbm"],
          "intermittent": {"model": "TSB", "window_days": 112},
          "lightgbm": {"num_boost_round": 15, "max_rows": 30_000, "num_threads": 1}}


def world(seed: int = 3) -> tuple[pd.DataFrame, F.ForecastContext]:
    """A dense history shaped like ``data.load_history``: Poisson sales with a weekly cycle,
    stock-outs of 2-12 days (zero sales, and a count at zero when the weekly count falls in
    one), and a shelf counted once a week per series."""
    rng = np.random.default_rng(seed)
    stores = pd.DataFrame({"store_id": ["S1", "S2", "S3"], "store_type": ["a", "b", "a"],
                           "region": ["n", "s", "s"], "store_cluster": [1, 2, 1],
                           "size_sqft": [900.0, 1500.0, 1200.0]})
    n_products = 24
    products = pd.DataFrame({
        "product_id": [f"P{i:02d}" for i in range(n_products)],
        "category": [["dairy", "bakery", "snacks"][i % 3] for i in range(n_products)],
        "subcategory": [f"sub{i % 6}" for i in range(n_products)],
        "list_price": rng.uniform(1, 9, n_products).round(2),
        "is_perishable": [i % 2 == 0 for i in range(n_products)]})
    context = F.ForecastContext(products=products, stores=stores)
    days = pd.date_range(FIRST, periods=DAYS, freq="D")
    n_series = len(stores) * n_products
    rate = rng.gamma(0.8, 2.0, size=(n_series, 1)) * (1 + 0.3 * (days.weekday >= 5))[None, :]
    units = rng.poisson(rate).astype(np.float32)
    on_hand = np.full(units.shape, np.nan, dtype=np.float32)
    for s in range(n_series):
        empty = np.zeros(DAYS, dtype=bool)
        for start in rng.choice(DAYS - 12, size=rng.integers(0, 6), replace=False):
            empty[start:start + rng.integers(2, 13)] = True
        units[s, empty] = 0
        counted = np.arange(rng.integers(0, 7), DAYS, 7)
        on_hand[s, counted] = np.where(empty[counted], 0, rng.integers(1, 40, len(counted)))
    closed = np.array([context.holiday(d.date())[1] == 0.0 for d in days])
    history = pd.DataFrame({
        F.STORE: pd.Categorical(np.repeat(stores["store_id"], n_products * DAYS)),
        F.PRODUCT: pd.Categorical(np.tile(np.repeat(products["product_id"], DAYS),
                                          len(stores))),
        F.DATE: np.tile(days.to_numpy(), n_series),
        F.UNITS: units.ravel(), F.ON_HAND: on_hand.ravel(),
        F.UNIT_PRICE: np.tile(np.repeat(products["list_price"].to_numpy(np.float32), DAYS),
                              len(stores)),
        F.DISCOUNT: np.zeros(n_series * DAYS, dtype=np.float32),
        F.CLOSED: np.tile(closed, n_series)})
    return history, context


def test_the_forecast_from_the_lookback_equals_the_forecast_from_the_whole_history():
    history, context = world()
    lookback = predict_days(PARAMS)
    # intermittent's 112 days, and twice the 28-day censoring window and a week
    assert lookback == 112 + 63 and lookback < DAYS
    origin = (pd.Timestamp(FIRST) + pd.Timedelta(days=DAYS - 1)).date()
    whole = mark_censoring(history)
    dates = history[F.DATE]
    short = mark_censoring(history[dates > dates.max() - pd.Timedelta(days=lookback)]
                           .reset_index(drop=True))
    assert short[F.DATE].nunique() == lookback
    assert whole[F.CENSORED].sum() > 100          # stock-outs are there to be marked
    for name, model in forecasters(PARAMS).items():
        model.fit(whole, None, context)
        from_whole = model.predict(whole, origin, 14, None, context)
        from_lookback = model.predict(short, origin, 14, None, context)
        assert from_whole[F.UNITS].sum() > 0, name
        pd.testing.assert_frame_equal(from_lookback, from_whole, check_exact=True, obj=name)


@pytest.mark.parametrize("seed", [0, 1])
def test_tsb_across_all_series_is_statsforecasts_tsb(seed):
    rng = np.random.default_rng(seed)
    values = rng.poisson(rng.gamma(0.4, 1.5, size=(400, 1)), size=(400, 60)).astype(float)
    values *= rng.uniform(0.6, 1.4, size=values.shape)   # weekday-neutral values are fractional
    values[:5] = 0.0                                        # never sold
    values[5:10, :50] = 0.0                                 # first sale late
    ours = tsb_level(values)
    from statsforecast import StatsForecast
    from statsforecast.models import TSB

    frame = pd.DataFrame({"unique_id": np.repeat(np.arange(400), 60),
                          "ds": np.tile(np.arange(60), 400), "y": values.ravel()})
    reference = (StatsForecast(models=[TSB(alpha_d=0.1, alpha_p=0.1)], freq=1)
                 .forecast(df=frame, h=2).sort_values(["unique_id", "ds"]))
    expected = reference["TSB"].to_numpy().reshape(400, 2)[:, 0]
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-15)
    assert (ours[:5] == 0).all() and (ours[10:] > 0).any()
    np.testing.assert_array_equal(level_forecast(values, 3, "TSB"),
                                  np.repeat(ours[:, None], 3, axis=1))


@pytest.mark.parametrize("a, phi", [(1.0, 0.0), (1.3, 0.2), (1.0, 0.05)])
def test_count_intervals_by_summed_pmf_are_scipys_quantiles(a, phi):
    """The daily forecast's million intervals come from summing the pmf (fast); they must be
    scipy's Poisson / negative binomial quantiles, widened to hold the mean."""
    from scipy import stats

    from retailops.forecast.models import count_interval, dispersion_for

    rng = np.random.default_rng(5)
    mean = np.concatenate([rng.gamma(0.7, 1.5, 20_000), rng.uniform(0, 60, 2_000),
                           [0.0, 1e-7, 29.99, 30.0, 30.01, 250.0]])
    dispersion = dispersion_for(mean, a, phi) if phi or a > 1 else 0.0
    low, high = count_interval(mean, dispersion)
    d = np.broadcast_to(np.asarray(dispersion, dtype=float), mean.shape)
    size = 1 / np.where(d > 0, d, 1.0)
    expected_low, expected_high = np.zeros_like(mean), np.zeros_like(mean)
    for out, q in ((expected_low, 0.1), (expected_high, 0.9)):
        if not phi and a == 1.0:
            out[mean > 0] = stats.poisson.ppf(q, mean[mean > 0])
        else:
            out[mean > 0] = stats.nbinom.ppf(q, size, size / (size + mean))[mean > 0]
    np.testing.assert_array_equal(low, np.minimum(expected_low, mean))
    np.testing.assert_array_equal(high, np.maximum(expected_high, mean))
