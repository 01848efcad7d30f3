"""The seven files of the Kaggle download: their columns, DuckDB types and keys.

Column order is the files' own. Types are what the values mean, not what pandas would guess:
``store_nbr`` fits a SMALLINT, ``onpromotion`` is a tri-state boolean (empty before 2014-04-01).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableSpec:
    """One file of the download."""

    name: str
    filename: str
    columns: dict[str, str]
    primary_key: tuple[str, ...]
    date_column: str | None
    # Needed to build the daily sales mart: the run stops with one line when one is missing.
    required: bool


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "train",
            "train.csv",
            {
                "id": "BIGINT",
                "date": "DATE",
                "store_nbr": "SMALLINT",
                "item_nbr": "INTEGER",
                "unit_sales": "DOUBLE",
                "onpromotion": "BOOLEAN",
            },
            ("id",),
            "date",
            True,
        ),
        TableSpec(
            "test",
            "test.csv",
            {
                "id": "BIGINT",
                "date": "DATE",
                "store_nbr": "SMALLINT",
                "item_nbr": "INTEGER",
                "onpromotion": "BOOLEAN",
            },
            ("id",),
            "date",
            False,
        ),
        TableSpec(
            "stores",
            "stores.csv",
            {
                "store_nbr": "SMALLINT",
                "city": "VARCHAR",
                "state": "VARCHAR",
                "type": "VARCHAR",
                "cluster": "SMALLINT",
            },
            ("store_nbr",),
            None,
            True,
        ),
        TableSpec(
            "items",
            "items.csv",
            {
                "item_nbr": "INTEGER",
                "family": "VARCHAR",
                "class": "INTEGER",
                "perishable": "SMALLINT",
            },
            ("item_nbr",),
            None,
            True,
        ),
        TableSpec(
            "oil",
            "oil.csv",
            {"date": "DATE", "dcoilwtico": "DOUBLE"},
            ("date",),
            "date",
            False,
        ),
        TableSpec(
            "holidays_events",
            "holidays_events.csv",
            {
                "date": "DATE",
                "type": "VARCHAR",
                "locale": "VARCHAR",
                "locale_name": "VARCHAR",
                "description": "VARCHAR",
                "transferred": "BOOLEAN",
            },
            # The file has several rows on one date (an event and a holiday, two cities): the
            # natural key is the date together with where and what was celebrated.
            ("date", "locale_name", "description"),
            "date",
            False,
        ),
        TableSpec(
            "transactions",
            "transactions.csv",
            {"date": "DATE", "store_nbr": "SMALLINT", "transactions": "INTEGER"},
            ("date", "store_nbr"),
            "date",
            False,
        ),
    )
}

REQUIRED_TABLES: tuple[str, ...] = tuple(name for name, spec in TABLES.items() if spec.required)
