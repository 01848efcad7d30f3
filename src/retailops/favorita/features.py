"""Calendar features of a sales day: weekday, payday, the 2016 earthquake, holidays per store.

The SQL expressions and the pandas functions encode the same rules; the SQL form is used on
``train`` (too big for pandas), the pandas form on the small tables and in tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

STORE_HOLIDAY_COLUMNS = [
    "date",
    "store_nbr",
    "is_holiday",
    "is_national_holiday",
    "is_regional_holiday",
    "is_local_holiday",
    "is_transferred_holiday",
    "is_bridge_day",
    "is_work_day",
    "is_event",
]


@dataclass(frozen=True)
class CalendarSettings:
    """Dates that shape the features (from ``favorita.calendar`` parameters)."""

    # Public-sector wages are paid on the 15th and on the last day of the month.
    payday_day_of_month: int = 15
    earthquake_date: date = date(2016, 4, 16)
    # The Kaggle description: the earthquake "greatly affected supermarket sales for several
    # weeks after"; four weeks is the window used here, and it is a parameter.
    earthquake_period_days: int = 28
    promotion_recorded_from: date = date(2014, 4, 1)

    @classmethod
    def from_params(cls, params: dict) -> "CalendarSettings":
        """Build from the ``favorita.calendar`` parameters block."""
        block = params.get("calendar", {}) or {}
        return cls(
            payday_day_of_month=int(block.get("payday_day_of_month", cls.payday_day_of_month)),
            earthquake_date=_as_date(block.get("earthquake_date", cls.earthquake_date)),
            earthquake_period_days=int(block.get("earthquake_period_days", cls.earthquake_period_days)),
            promotion_recorded_from=_as_date(
                block.get("promotion_recorded_from", cls.promotion_recorded_from)
            ),
        )

    @property
    def earthquake_end(self) -> date:
        """Last day of the earthquake period (inclusive)."""
        return self.earthquake_date + timedelta(days=self.earthquake_period_days - 1)


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def payday_sql(column: str, settings: CalendarSettings) -> str:
    """SQL: the day is a payday (the 15th or the month's last day)."""
    return f"(day({column}) = {settings.payday_day_of_month} OR {column} = last_day({column}))"


def earthquake_sql(column: str, settings: CalendarSettings) -> str:
    """SQL: the day falls in the earthquake period."""
    return (
        f"({column} BETWEEN DATE '{settings.earthquake_date.isoformat()}' "
        f"AND DATE '{settings.earthquake_end.isoformat()}')"
    )


def is_payday(dates: pd.Series, settings: CalendarSettings) -> pd.Series:
    """pandas: the 15th or the last day of the month."""
    dates = pd.to_datetime(dates)
    return (dates.dt.day == settings.payday_day_of_month) | dates.dt.is_month_end


def is_earthquake_period(dates: pd.Series, settings: CalendarSettings) -> pd.Series:
    """pandas: the day falls in the earthquake period."""
    dates = pd.to_datetime(dates)
    return dates.between(pd.Timestamp(settings.earthquake_date), pd.Timestamp(settings.earthquake_end))


def store_holidays(holidays: pd.DataFrame, stores: pd.DataFrame) -> pd.DataFrame:
    """Holiday flags per (date, store) for every day on which some calendar row applies.

    A national row applies to every store, a regional row to the stores of that state
    (``locale_name`` is the province), a local row to the stores of that city. ``holidays`` is
    the cleaned table from :func:`retailops.favorita.cleaning.clean_holidays`.
    """
    if holidays.empty or stores.empty:
        return pd.DataFrame(columns=STORE_HOLIDAY_COLUMNS).astype(
            {"date": "datetime64[us]", "store_nbr": "int16"}
            | {name: "bool" for name in STORE_HOLIDAY_COLUMNS[2:]}
        )
    places = stores[["store_nbr", "city", "state"]]
    national = holidays[holidays["scope"] == "national"].merge(places, how="cross")
    regional = holidays[holidays["scope"] == "regional"].merge(
        places, left_on="locale_name", right_on="state"
    )
    local = holidays[holidays["scope"] == "local"].merge(places, left_on="locale_name", right_on="city")
    rows = pd.concat([national, regional, local], ignore_index=True)
    rows = rows.assign(
        is_national_holiday=rows["is_day_off"] & (rows["scope"] == "national"),
        is_regional_holiday=rows["is_day_off"] & (rows["scope"] == "regional"),
        is_local_holiday=rows["is_day_off"] & (rows["scope"] == "local"),
        is_holiday=rows["is_day_off"],
    )
    flags = (
        rows.groupby(["date", "store_nbr"], as_index=False)[
            [
                "is_holiday",
                "is_national_holiday",
                "is_regional_holiday",
                "is_local_holiday",
                "is_transferred_away",
                "is_bridge",
                "is_work_day",
                "is_event",
            ]
        ]
        .any()
        .rename(columns={"is_transferred_away": "is_transferred_holiday", "is_bridge": "is_bridge_day"})
    )
    flags["store_nbr"] = flags["store_nbr"].astype("int16")
    return flags[STORE_HOLIDAY_COLUMNS].sort_values(["date", "store_nbr"], ignore_index=True)
