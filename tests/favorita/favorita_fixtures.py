"""A small Favorita-shaped download, written by code, with every quirk the pipeline handles.

Real column names and order, real value spellings (``True``/``False``, ``Work Day``, empty
fields), and hand-placed cases: returns, weighed (fractional) items, ``onpromotion`` empty before
2014-04-01, a transferred holiday and its transfer day, a bridge day and its make-up work day,
a regional and a local holiday, an earthquake-period day on each side of its end, oil gaps on a
weekend and a holiday.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

PROJECT = Path(__file__).resolve().parents[2]

STORES = pd.DataFrame(
    {
        "store_nbr": [1, 2, 3, 4],
        "city": ["Quito", "Quito", "Guayaquil", "Latacunga"],
        "state": ["Pichincha", "Pichincha", "Guayas", "Cotopaxi"],
        "type": ["D", "D", "A", "C"],
        "cluster": [13, 13, 8, 15],
    }
)

ITEMS = pd.DataFrame(
    {
        "item_nbr": [96995, 103665, 105574, 112830, 115611],
        "family": ["GROCERY I", "BREAD/BAKERY", "GROCERY I", "PRODUCE", "BEVERAGES"],
        "class": [1093, 2712, 1045, 2014, 1120],
        "perishable": [0, 1, 0, 1, 0],
    }
)
WEIGHED_ITEM = 112830

HOLIDAYS = pd.DataFrame(
    [
        # First and last rows of the real file's date range (the release check wants both ends).
        ("2012-03-02", "Holiday", "Local", "Manta", "Fundacion de Manta", "False"),
        ("2012-12-24", "Bridge", "National", "Ecuador", "Puente Navidad", "False"),
        ("2013-01-01", "Holiday", "National", "Ecuador", "Primer dia del ano", "False"),
        ("2013-01-05", "Work Day", "National", "Ecuador", "Recupero puente Navidad", "False"),
        ("2013-10-09", "Holiday", "Local", "Guayaquil", "Independencia de Guayaquil", "True"),
        ("2013-10-11", "Transfer", "Local", "Guayaquil", "Traslado Independencia de Guayaquil", "False"),
        ("2013-12-24", "Additional", "National", "Ecuador", "Navidad-1", "False"),
        ("2014-04-01", "Holiday", "Regional", "Cotopaxi", "Provincializacion de Cotopaxi", "False"),
        ("2014-12-26", "Bridge", "National", "Ecuador", "Puente Navidad", "False"),
        ("2016-04-16", "Event", "National", "Ecuador", "Terremoto Manabi", "False"),
        # A local holiday inside the test window, for test.csv's features (store 3 is in Guayaquil).
        ("2017-08-24", "Holiday", "Local", "Guayaquil", "Fiesta local de prueba", "False"),
        ("2017-12-26", "Additional", "National", "Ecuador", "Navidad+1", "False"),
    ],
    columns=["date", "type", "locale", "locale_name", "description", "transferred"],
)

# Days chosen for their features (comments say which).
TRAIN_DATES = [
    "2013-01-01",  # national holiday; onpromotion not recorded
    "2013-01-05",  # Saturday worked to make up the 2012-12-24 bridge
    "2013-01-15",  # payday (15th)
    "2013-01-31",  # payday (last day)
    "2013-10-09",  # Guayaquil's holiday, transferred away: an ordinary day
    "2013-10-11",  # ... celebrated here: local holiday for store 3
    "2013-12-24",  # additional national day off
    "2014-03-31",  # last day before promotions were recorded (and a payday)
    "2014-04-01",  # promotions recorded from here; regional holiday in Cotopaxi (store 4)
    "2014-12-26",  # bridge day
    "2016-04-16",  # earthquake (and an event)
    "2016-05-13",  # last day of the 28-day earthquake period
    "2016-05-14",  # first day after it
    "2017-08-15",  # last train day
]
PROMOTION_FROM = pd.Timestamp("2014-04-01")


def build_train() -> pd.DataFrame:
    """Every (date, store, item) of the fixture, with deterministic sales and the quirks."""
    rows = []
    row_id = 0
    for day_index, day in enumerate(TRAIN_DATES):
        for store in STORES["store_nbr"]:
            for item_index, item in enumerate(ITEMS["item_nbr"]):
                units = float(1 + (day_index * 7 + int(store) * 3 + item_index * 5) % 11)
                if item == WEIGHED_ITEM:
                    units += 0.25 * (1 + (day_index + int(store)) % 3)  # kilograms
                if (day_index + int(store) + item_index) % 9 == 0:
                    units = -units  # a return
                promoted = "" if pd.Timestamp(day) < PROMOTION_FROM else str(
                    (day_index + item_index) % 3 == 0
                )
                rows.append((row_id, day, int(store), int(item), units, promoted))
                row_id += 1
    return pd.DataFrame(rows, columns=["id", "date", "store_nbr", "item_nbr", "unit_sales", "onpromotion"])


TEST_DATES = ["2017-08-16", "2017-08-24", "2017-08-31"]  # first day, Guayaquil's holiday, last day


def build_test() -> pd.DataFrame:
    """Forecast rows after the last train day: stores 1 and 3 on the test window's first, a
    holiday and last day (the real test.csv spans 2017-08-16..2017-08-31)."""
    rows = [
        (125_497_040 + index, day, store, item, str(index % 2 == 0))
        for index, (day, store, item) in enumerate(
            (day, store, item) for day in TEST_DATES for store in (1, 3) for item in (96995, 115611)
        )
    ]
    return pd.DataFrame(rows, columns=["id", "date", "store_nbr", "item_nbr", "onpromotion"])


def build_oil() -> pd.DataFrame:
    """Weekday prices from 2013-01-01; 2013-01-01 (a holiday) and 2013-01-09 listed empty."""
    days = pd.bdate_range("2013-01-01", "2017-08-31")
    prices = [round(90 + (i % 17) * 0.5, 2) for i in range(len(days))]
    frame = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "dcoilwtico": prices}).astype({"dcoilwtico": object})
    frame.loc[frame["date"].isin(["2013-01-01", "2013-01-09"]), "dcoilwtico"] = ""
    return frame


def build_transactions(train: pd.DataFrame) -> pd.DataFrame:
    """One count per store-day with sales."""
    days = train[["date", "store_nbr"]].drop_duplicates().reset_index(drop=True)
    days["transactions"] = 500 + days.index * 13 % 400
    return days


def write_download(folder: Path, *, omit: tuple[str, ...] = (), broken: bool = False) -> dict[str, pd.DataFrame]:
    """Write the seven CSV files to ``folder`` (minus ``omit``); return what was written.

    ``broken`` adds, to ``train``, a row whose item is not in items.csv and a row repeating an id.
    """
    folder.mkdir(parents=True, exist_ok=True)
    train = build_train()
    if broken:
        orphan = pd.DataFrame([(len(train), "2017-08-15", 1, 999999, 4.0, "False")], columns=train.columns)
        repeat = train.iloc[[5]].assign(
            date="2017-08-15", item_nbr=96995, store_nbr=2, unit_sales=2.0, onpromotion="False"
        )
        train = pd.concat([train, orphan, repeat], ignore_index=True)
    tables = {
        "train": train,
        "test": build_test(),
        "stores": STORES,
        "items": ITEMS,
        "oil": build_oil(),
        "holidays_events": HOLIDAYS,
        "transactions": build_transactions(train),
    }
    for name, frame in tables.items():
        if name not in omit:
            frame.to_csv(folder / f"{name}.csv", index=False)
    return tables


def run_favorita(data_dir: Path, out_dir: Path, **extra_params) -> None:
    """``kedro run --pipelines favorita`` in-process, with outputs under ``out_dir``.

    The fixtures are samples of the release: ``expect_release`` is ``sample`` unless given.
    """
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT)
    params = {
        "favorita": {
            "data_dir": str(data_dir),
            "out_dir": str(out_dir),
            "reports_dir": str(out_dir / "reports"),
            "expect_release": "sample",
            **extra_params,
        }
    }
    cwd = Path.cwd()
    os.chdir(PROJECT)
    try:
        with KedroSession.create(project_path=PROJECT, runtime_params=params) as session:
            session.run(pipeline_names=["favorita"])
    finally:
        os.chdir(cwd)


def kedro_favorita_cli(params: str) -> "subprocess.CompletedProcess[str]":
    """``kedro run --pipelines favorita --params <params>`` as a user runs it: a new process at
    the project root, with only a bare PATH and telemetry off; its result, stderr included."""
    import subprocess
    import sys

    return subprocess.run(
        [str(Path(sys.executable).with_name("kedro")), "run", "--pipelines", "favorita",
         "--params", params],
        cwd=PROJECT, capture_output=True, text=True,
        env={"KEDRO_DISABLE_TELEMETRY": "1", "PATH": "/usr/bin:/bin"}, timeout=120)
