"""The daily sales mart: one row per (date, store, item family).

Built by DuckDB from the cleaned ``train`` Parquet; only the aggregate (at most days x stores x
families, ~3M rows for the full download) reaches pandas. Items missing from ``items.csv`` are
kept under family ``UNKNOWN`` so the mart's totals always equal ``train``'s.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from retailops.favorita.duck import parquet_scan

UNKNOWN_FAMILY = "UNKNOWN"

MART_COLUMNS = [
    "date",
    "store_nbr",
    "family",
    "city",
    "state",
    "store_type",
    "cluster",
    "sales_lines",
    "unit_sales",
    "units_sold",
    "units_returned",
    "return_lines",
    "promoted_lines",
    "promotion_recorded",
    "day_of_week",
    "is_payday",
    "is_earthquake_period",
    "is_holiday",
    "is_national_holiday",
    "is_regional_holiday",
    "is_local_holiday",
    "is_work_day",
    "is_event",
    "store_transactions",
    "oil_price",
]


def build_daily_sales_mart(
    con: duckdb.DuckDBPyConnection,
    train_clean_path: str,
    items: pd.DataFrame,
    stores: pd.DataFrame,
    transactions: pd.DataFrame,
    oil: pd.DataFrame,
) -> pd.DataFrame:
    """Aggregate cleaned ``train`` to date x store x family, with store, traffic and oil context.

    ``store_transactions`` is the store's whole-day count (the same on every family row of
    that store-day); it and ``oil_price`` are NULL when their file was not in the download.
    """
    con.register("mart_items", items[["item_nbr", "family"]])
    con.register("mart_stores", stores[["store_nbr", "city", "state", "store_type", "cluster"]])
    valid = transactions[transactions["is_valid"]] if "is_valid" in transactions else transactions
    con.register("mart_transactions", valid[["date", "store_nbr", "transactions"]])
    con.register("mart_oil", oil[["date", "oil_price"]])
    try:
        # con.sql, not con.execute: DuckDB 2.0 copies a DB-API result once more for Arrow.
        mart = con.sql(
            f"""
            WITH sales AS (
                SELECT t.date, t.store_nbr, coalesce(i.family, '{UNKNOWN_FAMILY}') AS family,
                       count(*) AS sales_lines,
                       sum(t.unit_sales) AS unit_sales,
                       sum(t.units_sold) AS units_sold,
                       sum(t.units_returned) AS units_returned,
                       count(*) FILTER (t.is_return) AS return_lines,
                       -- NULL, not 0, while promotions were not recorded.
                       CASE WHEN bool_and(t.promotion_recorded)
                            THEN count(*) FILTER (t.onpromotion) END AS promoted_lines,
                       bool_and(t.promotion_recorded) AS promotion_recorded,
                       any_value(t.day_of_week) AS day_of_week,
                       any_value(t.is_payday) AS is_payday,
                       any_value(t.is_earthquake_period) AS is_earthquake_period,
                       any_value(t.is_holiday) AS is_holiday,
                       any_value(t.is_national_holiday) AS is_national_holiday,
                       any_value(t.is_regional_holiday) AS is_regional_holiday,
                       any_value(t.is_local_holiday) AS is_local_holiday,
                       any_value(t.is_work_day) AS is_work_day,
                       any_value(t.is_event) AS is_event
                FROM {parquet_scan(train_clean_path)} AS t
                LEFT JOIN mart_items AS i ON i.item_nbr = t.item_nbr
                GROUP BY ALL
            )
            SELECT s.date, s.store_nbr, s.family, st.city, st.state, st.store_type, st.cluster,
                   s.sales_lines, s.unit_sales, s.units_sold, s.units_returned, s.return_lines,
                   s.promoted_lines, s.promotion_recorded, s.day_of_week, s.is_payday,
                   s.is_earthquake_period, s.is_holiday, s.is_national_holiday,
                   s.is_regional_holiday, s.is_local_holiday, s.is_work_day, s.is_event,
                   tr.transactions AS store_transactions, o.oil_price
            FROM sales AS s
            LEFT JOIN mart_stores AS st ON st.store_nbr = s.store_nbr
            LEFT JOIN mart_transactions AS tr ON tr.date::DATE = s.date AND tr.store_nbr = s.store_nbr
            LEFT JOIN mart_oil AS o ON o.date::DATE = s.date
            ORDER BY s.date, s.store_nbr, s.family
            """
        ).to_arrow_table()
    finally:
        for name in ("mart_items", "mart_stores", "mart_transactions", "mart_oil"):
            con.unregister(name)
    # Through Arrow with categorical text: ~3M rows of repeated family/city/state strings as
    # Python objects would cost several times the memory of the numbers themselves.
    frame = mart.to_pandas(strings_to_categorical=True, integer_object_nulls=False)
    del mart
    frame["date"] = pd.to_datetime(frame["date"])
    for column in ("sales_lines", "return_lines"):
        frame[column] = frame[column].astype("int32")
    for column in ("promoted_lines", "store_transactions"):
        frame[column] = frame[column].astype("Int32")
    return frame[MART_COLUMNS]
