"""The frames passed between the forecast parts: names of their columns and the context.

Every part of the forecasting layer (the data loader, the censoring rule, the models, the
backtest, the closed-loop ordering policy) exchanges pandas frames with the columns named here,
so a part can be changed without reading the others:

- **history**: one row per store x product x day, ``store_id, product_id, date, units`` (observed
  units sold, zero on a trading day without a sale), plus optional columns the loader adds
  (``on_hand`` count when one was taken, ``censored`` flag, ``unit_price``, ``discount_pct``,
  ``is_closed``). Models must work from the four required columns; the optional ones sharpen them.
- **plan**: the promotion plan as known on a day (``retailops.lake.promotions.read_plan``):
  ``product_id, start_date, end_date, discount_pct``.
- **forecast** (bottom level): ``store_id, product_id, target_date, units, units_p10, units_p90``
  (an 80% interval).

``ForecastContext`` carries the dimensions and the calendar a model may use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Callable

import numpy as np
import pandas as pd

# history
STORE, PRODUCT, DATE, UNITS = "store_id", "product_id", "date", "units"
HISTORY_COLUMNS = (STORE, PRODUCT, DATE, UNITS)
# optional history columns (the loader adds them; L's simulated history may leave them out)
ON_HAND = "on_hand"            # end-of-day count where a cycle count was taken, else NaN
CENSORED = "censored"          # True when the day's sales were cut by a stock-out (inferred)
UNIT_PRICE = "unit_price"      # list price of the product that day
DISCOUNT = "discount_pct"      # discount on that day's sales (0 without a promotion)
CLOSED = "is_closed"           # the chain did not trade that day (e.g. Christmas Day)

# plan
PLAN_COLUMNS = ("product_id", "start_date", "end_date", "discount_pct")

# forecast (bottom level)
TARGET_DATE = "target_date"
P10, P90 = "units_p10", "units_p90"
FORECAST_COLUMNS = (STORE, PRODUCT, TARGET_DATE, UNITS, P10, P90)

# the forecast marts (curated/fct_demand_forecast, curated/fct_demand_forecast_levels)
FORECAST_MART_COLUMNS = ("target_date", "store_id", "product_id", "model", "model_version",
                         "units", "units_p10", "units_p90")
LEVELS_MART_COLUMNS = ("target_date", "level", "level_key", "model", "units", "units_p10",
                       "units_p90")
LEVELS = ("store_category", "category", "store", "chain")


def _default_holidays(day: date) -> tuple[str | None, float]:
    # A retailer knows its holiday calendar ahead; the simulation's calendar is that calendar.
    from retailops.simulation.calendar import holiday_effect

    return holiday_effect(day)


@dataclass
class ForecastContext:
    """What a model may know besides the history and the plan.

    ``products``: ``product_id, category, list_price`` (more columns allowed, e.g. ``subcategory``,
    ``is_perishable``); ``stores``: ``store_id, store_type, region, size_sqft`` (more allowed).
    ``holiday``: day -> (name or None, footfall multiplier known to the retailer; 0 = closed).
    """

    products: pd.DataFrame
    stores: pd.DataFrame
    holiday: Callable[[date], tuple[str | None, float]] = field(default=_default_holidays)
    # day -> the largest discount each product (in ``products``' order) sold at that day across
    # the whole chain, when a model predicts from a block of the chain's stores
    # (``forecast.blocks``): a prediction's origin-day discount is the chain's, not the block's.
    sold_discounts: dict = field(default_factory=dict)

    def category_of(self) -> pd.Series:
        """product_id -> category."""
        return self.products.set_index("product_id")["category"]

    def holiday_table(self, days: pd.DatetimeIndex) -> pd.DataFrame:
        """One row per day: ``date, holiday_effect, is_holiday, is_closed``."""
        effects = np.array([self.holiday(d.date())[1] for d in days], dtype=float)
        names = [self.holiday(d.date())[0] for d in days]
        return pd.DataFrame({DATE: days, "holiday_effect": effects,
                             "is_holiday": [n is not None for n in names],
                             CLOSED: effects == 0.0})


def empty_forecast() -> pd.DataFrame:
    """A bottom-level forecast frame with no rows and the right dtypes."""
    return pd.DataFrame({STORE: pd.Series(dtype=str), PRODUCT: pd.Series(dtype=str),
                         TARGET_DATE: pd.Series(dtype="datetime64[ns]"),
                         UNITS: pd.Series(dtype=float), P10: pd.Series(dtype=float),
                         P90: pd.Series(dtype=float)})


def target_days(origin: date, horizon: int) -> pd.DatetimeIndex:
    """The days a forecast made at ``origin`` covers: origin+1 .. origin+horizon."""
    return pd.date_range(pd.Timestamp(origin) + pd.Timedelta(days=1), periods=horizon, freq="D")


def plan_discount(plan: pd.DataFrame | None, products: pd.Index | np.ndarray,
                  days: pd.DatetimeIndex) -> np.ndarray:
    """Planned discount per (day, product) as a days x products array (0 where nothing is planned).

    Products are in the order given; a product planned twice on a day takes the larger discount.
    """
    products = pd.Index(products)
    out = np.zeros((len(days), len(products)))
    if plan is None or len(plan) == 0:
        return out
    column = products.get_indexer(plan["product_id"].astype(str))
    start = pd.to_datetime(plan["start_date"]).to_numpy()
    end = pd.to_datetime(plan["end_date"]).to_numpy()
    discount = plan["discount_pct"].to_numpy(dtype=float)
    known = column >= 0
    for i, day in enumerate(days.to_numpy()):
        hit = known & (start <= day) & (day <= end)
        if hit.any():
            np.maximum.at(out[i], column[hit], discount[hit])
    return out
