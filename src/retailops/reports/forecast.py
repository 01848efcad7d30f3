"""The executive summary's forecast figures: the chain's next 14 days from the latest forecast
(with its 80% band) and the latest backtest's accuracy against the oracle.

The forecast marts are written by the forecast stage, not dbt, and may not exist yet (a fresh
lake, too little history, a serving file published before them): ``collect_forecast`` then
returns an empty ``ForecastSummary`` and the page says so, instead of failing the report.
Plain SQL both engines run: on Athena the date partitions are text, hence the casts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from retailops.warehouse.engines import Warehouse

LEVELS = "fct_demand_forecast_levels"
ACCURACY = "forecast_accuracy"
# Levels in the order a reader meets them, finest first.
LEVEL_ORDER = ("store_product", "store_category", "category", "store", "chain")


@dataclass(frozen=True)
class ForecastSummary:
    """The latest forecast at chain level, and the latest backtest's scores."""

    forecast_date: date | None
    model: str | None
    chain: pd.DataFrame       # target_date, units, units_p10, units_p90
    backtest_date: date | None
    accuracy: pd.DataFrame    # model, level, against, origins, horizon_days, wape, ...

    @property
    def has_forecast(self) -> bool:
        return self.forecast_date is not None and not self.chain.empty


def _date(value: object) -> date | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()


def latest_chain_forecast(warehouse: Warehouse) -> tuple[date | None, str | None, pd.DataFrame]:
    """The latest forecast date's chain-level forecast of its production model (the one its
    levels table holds; the first by name if several)."""
    empty = pd.DataFrame(columns=["target_date", "units", "units_p10", "units_p90"])
    if not warehouse.has_table("marts", LEVELS):
        return None, None, empty
    levels = warehouse.table("marts", LEVELS)
    latest = warehouse.query(f"select max(cast(forecast_date as date)) as forecast_date "
                             f"from {levels}").iloc[0, 0]
    forecast_date = _date(latest)
    if forecast_date is None:
        return None, None, empty
    rows = warehouse.query(f"""
        with chosen as (
            select min(model) as model from {levels}
            where cast(forecast_date as date) = date '{forecast_date.isoformat()}'
        )
        select target_date, {levels}.model, units, units_p10, units_p90
        from {levels}
        join chosen on chosen.model = {levels}.model
        where cast(forecast_date as date) = date '{forecast_date.isoformat()}'
          and level = 'chain'
        order by target_date
    """)
    model = str(rows["model"].iloc[0]) if not rows.empty else None
    return forecast_date, model, rows.drop(columns=["model"])


def latest_accuracy(warehouse: Warehouse) -> tuple[date | None, pd.DataFrame]:
    """The latest backtest's scores, finest level first, best ratio to the oracle first."""
    if not warehouse.has_table("marts", ACCURACY):
        return None, pd.DataFrame()
    accuracy = warehouse.table("marts", ACCURACY)
    rows = warehouse.query(f"""
        with latest as (
            select max(cast(backtest_date as date)) as backtest_date from {accuracy}
        )
        select cast(a.backtest_date as date) as backtest_date, model, level, against, origins,
               horizon_days, wape, mase, bias, oracle_wape, wape_ratio_to_oracle
        from {accuracy} as a
        join latest on latest.backtest_date = cast(a.backtest_date as date)
    """)
    if rows.empty:
        return None, rows
    order = {level: n for n, level in enumerate(LEVEL_ORDER)}
    rows = rows.assign(_level=rows["level"].map(order).fillna(len(order)))
    rows = rows.sort_values(["against", "_level", "wape_ratio_to_oracle", "model"],
                            ascending=[False, True, True, True], ignore_index=True)
    return _date(rows["backtest_date"].iloc[0]), rows.drop(columns=["_level", "backtest_date"])


def collect_forecast(warehouse: Warehouse) -> ForecastSummary:
    forecast_date, model, chain = latest_chain_forecast(warehouse)
    backtest_date, accuracy = latest_accuracy(warehouse)
    return ForecastSummary(forecast_date=forecast_date, model=model, chain=chain,
                           backtest_date=backtest_date, accuracy=accuracy)
