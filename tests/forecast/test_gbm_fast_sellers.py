"""LightGBM's Poisson boosting must not blow up on a few fast sellers among many slow ones.

The year-scale defect (issue 12, +1261% bias): a chain has many series selling ~1 a day and a
few selling hundreds. Boosting starts every row at the log of the overall mean, so the first
tree's leaf for the fast sellers takes one Newton step of sum(y - p) / sum(hessian) ~ y/p, tens
of units in log space; that leaf (and every slow row sharing it) then predicts thousands of
times too much, and each later tree can only pull it down by ~learning_rate/2 in log space, so
200 rounds do not undo it. The forecast must stay near the actual total.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retailops.forecast import frames as F
from retailops.forecast.censoring import mark_censoring
from retailops.forecast.gbm import LightGBMForecaster

FIRST = pd.Timestamp("2024-03-04")
DAYS = 120
HORIZON = 14


def world(seed: int = 5) -> tuple[pd.DataFrame, F.ForecastContext]:
    """Two stores x 60 products: most sell ~0.5 a day, three per store ~300 a day; no stock-outs
    (every shelf counted full), no promotions."""
    rng = np.random.default_rng(seed)
    stores = pd.DataFrame({"store_id": ["S1", "S2"], "store_type": ["a", "b"],
                           "region": ["n", "s"], "size_sqft": [900.0, 1500.0]})
    n_products = 60
    products = pd.DataFrame({
        "product_id": [f"P{i:02d}" for i in range(n_products)],
        "category": [["dairy", "bakery", "snacks"][i % 3] for i in range(n_products)],
        "subcategory": [f"sub{i % 6}" for i in range(n_products)],
        "list_price": rng.uniform(1, 9, n_products).round(2),
        "is_perishable": [i % 2 == 0 for i in range(n_products)]})
    context = F.ForecastContext(products=products, stores=stores, holiday=lambda d: (None, 1.0))
    days = pd.date_range(FIRST, periods=DAYS, freq="D")
    base = np.full(n_products, 0.5)
    base[:3] = 300.0
    rate = np.tile(base, len(stores))[:, None] * (1 + 0.3 * (days.weekday >= 5))[None, :]
    units = rng.poisson(rate).astype(np.float32)
    n_series = units.shape[0]
    history = pd.DataFrame({
        F.STORE: pd.Categorical(np.repeat(stores["store_id"], n_products * DAYS)),
        F.PRODUCT: pd.Categorical(np.tile(np.repeat(products["product_id"], DAYS),
                                          len(stores))),
        F.DATE: np.tile(days.to_numpy(), n_series),
        F.UNITS: units.ravel(),
        F.ON_HAND: np.full(n_series * DAYS, 1000.0, dtype=np.float32),
        F.UNIT_PRICE: np.tile(np.repeat(products["list_price"].to_numpy(np.float32), DAYS),
                              len(stores)),
        F.DISCOUNT: np.zeros(n_series * DAYS, dtype=np.float32),
        F.CLOSED: np.zeros(n_series * DAYS, dtype=bool)})
    return history, context


def test_lightgbm_forecast_total_stays_near_the_actual_with_a_few_fast_sellers():
    history, context = world()
    origin = FIRST + pd.Timedelta(days=DAYS - HORIZON - 1)
    known = mark_censoring(history[history[F.DATE] <= origin].reset_index(drop=True))
    model = LightGBMForecaster(num_boost_round=40, max_rows=30_000, num_threads=1)
    forecast = model.fit(known, None, context).predict(known, origin.date(), HORIZON, None,
                                                       context)
    actual = history[history[F.DATE] > origin]
    # the 6 fast series are ~99.7% of the units; the ratio is the chain's bias
    ratio = forecast[F.UNITS].sum() / actual[F.UNITS].sum()
    assert 0.85 < ratio < 1.15, f"forecast total / actual total = {ratio:.2f}"
    slow = ~forecast[F.PRODUCT].astype(str).isin(["P00", "P01", "P02"])
    slow_actual = ~actual[F.PRODUCT].astype(str).isin(["P00", "P01", "P02"])
    slow_ratio = forecast.loc[slow, F.UNITS].sum() / actual.loc[slow_actual, F.UNITS].sum()
    assert 0.6 < slow_ratio < 1.6, f"slow sellers: forecast / actual = {slow_ratio:.2f}"
