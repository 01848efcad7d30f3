"""Cleaning rules, one function per table of the download.

The small tables are cleaned in pandas; ``train`` is cleaned by one streaming DuckDB ``COPY``
from the staged Parquet to ``clean/train.parquet``, with the calendar features joined on.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from retailops.favorita.duck import parquet_scan, sql_string
from retailops.favorita.features import (
    CalendarSettings,
    earthquake_sql,
    is_earthquake_period,
    is_payday,
    payday_sql,
)

# Holiday rows that give people the day off. A "Holiday" that was transferred is an ordinary
# day: it is celebrated on the date of its "Transfer" row instead.
DAY_OFF_TYPES = ("Holiday", "Transfer", "Additional", "Bridge")

# Descriptions carry the kind of day as a prefix ("Traslado ...", "Puente ...") or an offset
# suffix ("Navidad-4", "Navidad+1"); the bare name groups a holiday with its satellites.
_NAME_PREFIX = re.compile(r"^(Traslado|Recupero puente|Recupero|Puente)\s+", re.IGNORECASE)
_NAME_OFFSET = re.compile(r"[-+]\d+$")


def clean_holidays(holidays: pd.DataFrame) -> pd.DataFrame:
    """Classify each calendar row: scope, day off or not, transferred, bridge, work day, event."""
    frame = holidays.copy()
    frame["date"] = pd.to_datetime(frame["date"])
    frame["holiday_type"] = frame["type"].astype("string").str.strip()
    frame["scope"] = frame["locale"].astype("string").str.strip().str.lower()
    frame["locale_name"] = frame["locale_name"].astype("string").str.strip()
    frame["description"] = frame["description"].astype("string").str.strip()
    frame["transferred"] = frame["transferred"].fillna(False).astype(bool)
    frame["holiday_name"] = (
        frame["description"].str.replace(_NAME_PREFIX, "", regex=True).str.replace(_NAME_OFFSET, "", regex=True)
    )
    kind = frame["holiday_type"]
    frame["is_transferred_away"] = (kind == "Holiday") & frame["transferred"]
    frame["is_day_off"] = kind.isin(DAY_OFF_TYPES) & ~frame["is_transferred_away"]
    frame["is_transfer"] = kind == "Transfer"
    frame["is_bridge"] = kind == "Bridge"
    frame["is_additional"] = kind == "Additional"
    # A "Work Day" is a weekend day worked to pay back a bridge day: a normal working day.
    frame["is_work_day"] = kind == "Work Day"
    frame["is_event"] = kind == "Event"
    frame["day_of_week"] = frame["date"].dt.day_of_week + 1
    columns = [
        "date",
        "holiday_type",
        "scope",
        "locale_name",
        "description",
        "holiday_name",
        "transferred",
        "is_day_off",
        "is_transferred_away",
        "is_transfer",
        "is_bridge",
        "is_additional",
        "is_work_day",
        "is_event",
        "day_of_week",
    ]
    for flag in columns[6:-1]:
        frame[flag] = frame[flag].astype(bool)
    return frame[columns].sort_values(["date", "scope", "locale_name"], ignore_index=True)


def clean_items(items: pd.DataFrame) -> pd.DataFrame:
    """Items with their family, class and a boolean perishable flag."""
    # A repeated item_nbr would multiply its sales in the mart's join: keep the first row (the
    # duplicate itself is reported by the quality check items.primary_key_unique).
    frame = items.drop_duplicates("item_nbr", keep="first").copy()
    frame["family"] = frame["family"].astype("string").str.strip().str.upper()
    frame["is_perishable"] = frame["perishable"].fillna(0).astype(int) == 1
    return frame[["item_nbr", "family", "class", "is_perishable"]].sort_values("item_nbr", ignore_index=True)


def clean_stores(stores: pd.DataFrame) -> pd.DataFrame:
    """Stores with trimmed city and state names, the store type as a letter, and cluster."""
    # As for items: one row per store, the duplicate is named by stores.primary_key_unique.
    frame = stores.drop_duplicates("store_nbr", keep="first").copy()
    for column in ("city", "state"):
        frame[column] = frame[column].astype("string").str.strip()
    frame["store_type"] = frame["type"].astype("string").str.strip().str.upper()
    return frame[["store_nbr", "city", "state", "store_type", "cluster"]].sort_values(
        "store_nbr", ignore_index=True
    )


def clean_oil(oil: pd.DataFrame, holidays: pd.DataFrame, trend_window_days: int = 28) -> pd.DataFrame:
    """A daily oil price with every calendar day present.

    The market is closed on weekends (no row) and on some holidays (a row with an empty price);
    those days carry the last known price, and the first days, before any price is known, the
    first one. ``gap_reason`` says why a day was filled. ``holidays`` is the cleaned calendar
    (used only to name the reason; may be empty).
    """
    columns = [
        "date",
        "dcoilwtico",
        "oil_price",
        "was_filled",
        "gap_reason",
        "daily_change",
        "daily_change_pct",
        "trend",
    ]
    known = oil.dropna(subset=["date"])
    if known.empty:
        return pd.DataFrame(columns=columns).astype({"date": "datetime64[us]", "oil_price": "float64"})
    known = known.assign(date=pd.to_datetime(known["date"])).drop_duplicates("date").set_index("date")
    days = pd.date_range(known.index.min(), known.index.max(), freq="D", name="date")
    frame = known.reindex(days)[["dcoilwtico"]].reset_index()
    frame["was_filled"] = frame["dcoilwtico"].isna()
    national_days_off = set(
        holidays.loc[holidays["is_day_off"] & (holidays["scope"] == "national"), "date"]
    ) if not holidays.empty else set()
    frame["gap_reason"] = np.select(
        [
            ~frame["was_filled"],
            frame["date"].dt.day_of_week >= 5,
            frame["date"].isin(national_days_off),
        ],
        [None, "weekend", "holiday"],
        default="missing_value",
    )
    frame["gap_reason"] = frame["gap_reason"].astype("string")
    frame["oil_price"] = frame["dcoilwtico"].ffill().bfill()
    frame["daily_change"] = frame["oil_price"].diff()
    frame["daily_change_pct"] = frame["oil_price"].pct_change()
    frame["trend"] = frame["oil_price"].rolling(trend_window_days, min_periods=1).mean()
    return frame[columns]


def clean_transactions(
    transactions: pd.DataFrame, stores: pd.DataFrame, outlier_mad_limit: float = 6.0
) -> pd.DataFrame:
    """Daily transaction counts per store, each flagged valid or not and why.

    Valid: a positive whole count, for a known store, once per (date, store). Outliers, far from
    the store's own median (in median absolute deviations), are flagged but kept: they can be a
    real event (Christmas) as well as a typing error.
    """
    frame = transactions.copy()
    frame["date"] = pd.to_datetime(frame["date"])
    frame["is_positive"] = frame["transactions"].fillna(0) > 0
    frame["is_known_store"] = frame["store_nbr"].isin(stores["store_nbr"])
    frame["is_duplicate"] = frame.duplicated(["date", "store_nbr"], keep="first")
    by_store = frame.groupby("store_nbr")["transactions"]
    median = by_store.transform("median")
    mad = (frame["transactions"] - median).abs().groupby(frame["store_nbr"]).transform("median")
    deviation = (frame["transactions"] - median).abs() / mad.replace(0, np.nan)
    frame["is_outlier"] = (deviation > outlier_mad_limit).fillna(False).astype(bool)
    frame["is_valid"] = frame["is_positive"] & frame["is_known_store"] & ~frame["is_duplicate"]
    frame["day_of_week"] = frame["date"].dt.day_of_week + 1
    return frame[
        [
            "date",
            "store_nbr",
            "transactions",
            "day_of_week",
            "is_positive",
            "is_known_store",
            "is_duplicate",
            "is_outlier",
            "is_valid",
        ]
    ].sort_values(["date", "store_nbr"], ignore_index=True)


def add_day_features(frame: pd.DataFrame, settings: CalendarSettings) -> pd.DataFrame:
    """pandas: weekday, payday and earthquake-period columns for a frame with a ``date`` column."""
    dates = pd.to_datetime(frame["date"])
    return frame.assign(
        day_of_week=dates.dt.day_of_week + 1,
        is_payday=is_payday(dates, settings),
        is_earthquake_period=is_earthquake_period(dates, settings),
    )


TRAIN_CLEAN_COLUMNS = [
    "id",
    "date",
    "store_nbr",
    "item_nbr",
    "unit_sales",
    "units_sold",
    "units_returned",
    "is_return",
    "is_fractional_units",
    "onpromotion",
    "promotion_recorded",
    "day_of_week",
    "is_payday",
    "is_earthquake_period",
    "is_holiday",
    "is_national_holiday",
    "is_regional_holiday",
    "is_local_holiday",
    "is_transferred_holiday",
    "is_bridge_day",
    "is_work_day",
    "is_event",
]


# The columns test.csv gets: train's, less everything derived from unit_sales (which test lacks).
SALES_COLUMNS = ("unit_sales", "units_sold", "units_returned", "is_return", "is_fractional_units")
TEST_CLEAN_COLUMNS = [column for column in TRAIN_CLEAN_COLUMNS if column not in SALES_COLUMNS]


def _day_features_sql(settings: CalendarSettings) -> str:
    """The feature columns of a sales day, over ``t`` (the rows) joined to ``h`` (holiday flags).

    One expression list for train and test, so a forecast fed from train's features finds the
    same columns, computed the same way, on the days it forecasts.
    """
    holiday_flags = ", ".join(
        f"coalesce(h.{flag}, false) AS {flag}"
        for flag in TRAIN_CLEAN_COLUMNS[TRAIN_CLEAN_COLUMNS.index("is_holiday") :]
    )
    promo_from = f"DATE '{settings.promotion_recorded_from.isoformat()}'"
    return f"""t.onpromotion,
                   t.date >= {promo_from} AS promotion_recorded,
                   isodow(t.date)::TINYINT AS day_of_week,
                   {payday_sql('t.date', settings)} AS is_payday,
                   {earthquake_sql('t.date', settings)} AS is_earthquake_period,
                   {holiday_flags}"""


def _copy_with_features(
    con: duckdb.DuckDBPyConnection,
    source_parquet: str,
    store_holiday_flags: pd.DataFrame,
    target: Path,
    leading_sql: str,
    settings: CalendarSettings,
) -> None:
    """Stream ``source_parquet`` to ``target`` with the day features joined on (one ``COPY``)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".parquet.partial")
    con.register("store_holiday_flags", store_holiday_flags)
    try:
        con.execute(
            f"""
            COPY (
                SELECT {leading_sql},
                       {_day_features_sql(settings)}
                FROM {parquet_scan(source_parquet)} AS t
                LEFT JOIN (SELECT * REPLACE (date::DATE AS date, store_nbr::SMALLINT AS store_nbr)
                           FROM store_holiday_flags) AS h
                  ON h.date = t.date AND h.store_nbr = t.store_nbr
            ) TO {sql_string(partial)} (FORMAT parquet, COMPRESSION zstd)
            """
        ).fetchall()
    finally:
        con.unregister("store_holiday_flags")
    partial.replace(target)


def clean_train(
    con: duckdb.DuckDBPyConnection,
    train_parquet: str,
    store_holiday_flags: pd.DataFrame,
    target: Path,
    settings: CalendarSettings,
) -> dict:
    """Write the cleaned, feature-enriched ``train`` to ``target`` (Parquet) in one stream.

    - ``unit_sales`` below zero are returns: kept in the net figure, and split into
      ``units_sold`` and ``units_returned`` so neither hides the other.
    - Fractional ``unit_sales`` are weighed goods (kg), not errors: flagged, not rounded.
    - ``onpromotion`` was not recorded before 2014-04-01: those rows stay NULL (unknown, not
      "no promotion"), and ``promotion_recorded`` says which regime a row is in.

    Returns a small summary (rows, returns, fractional rows, unknown promotions, path).
    """
    _copy_with_features(
        con,
        train_parquet,
        store_holiday_flags,
        target,
        """t.id, t.date, t.store_nbr, t.item_nbr, t.unit_sales,
                       greatest(t.unit_sales, 0) AS units_sold,
                       greatest(-t.unit_sales, 0) AS units_returned,
                       t.unit_sales < 0 AS is_return,
                       t.unit_sales <> trunc(t.unit_sales) AS is_fractional_units""",
        settings,
    )
    rows, returns, fractional, promo_unknown, promo_unknown_late = con.execute(
        f"""
        SELECT count(*), count(*) FILTER (is_return), count(*) FILTER (is_fractional_units),
               count(*) FILTER (onpromotion IS NULL),
               count(*) FILTER (onpromotion IS NULL AND promotion_recorded)
        FROM {parquet_scan(target)}
        """
    ).fetchall()[0]
    return {
        "path": str(target),
        "rows": int(rows),
        "return_rows": int(returns),
        "fractional_unit_rows": int(fractional),
        "promotion_unknown_rows": int(promo_unknown),
        "promotion_unknown_after_recording_began": int(promo_unknown_late),
    }


def clean_test(
    con: duckdb.DuckDBPyConnection,
    test_parquet: str | None,
    store_holiday_flags: pd.DataFrame,
    target: Path,
    settings: CalendarSettings,
) -> dict:
    """Write ``test`` with train's features (:data:`TEST_CLEAN_COLUMNS`) to ``target``.

    The rows to forecast get the same weekday, payday, earthquake, promotion and holiday
    columns as train, from the same SQL. ``test_parquet`` ``None`` (no test.csv) writes
    nothing, removes a stale file, and returns a summary saying so.
    """
    if test_parquet is None:
        target.unlink(missing_ok=True)
        return {"path": None, "rows": 0, "promotion_unknown_rows": 0}
    _copy_with_features(
        con, test_parquet, store_holiday_flags, target, "t.id, t.date, t.store_nbr, t.item_nbr", settings
    )
    rows, promo_unknown = con.execute(
        f"SELECT count(*), count(*) FILTER (onpromotion IS NULL) FROM {parquet_scan(target)}"
    ).fetchall()[0]
    return {"path": str(target), "rows": int(rows), "promotion_unknown_rows": int(promo_unknown)}
