"""A Favorita-shaped download of any size, for the benchmark (and a quick look without Kaggle).

The real files cannot be downloaded here or committed. This writes the same seven files with the
real columns, spellings and quirks: rows sorted by date then store then item, sales growing over
the years, weighed items with fractional kilograms, rare returns, ``onpromotion`` empty before
2014-04-01 and ``True``/``False`` after, oil listed on weekdays only with a few empty holidays.
Values are random, not Favorita's: use it for volume and shape, not for findings.

``train.csv`` is produced in chunks of days with numpy and written with pyarrow's CSV writer, so
10M rows take seconds and memory stays at one chunk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

FAMILIES = (
    "AUTOMOTIVE", "BABY CARE", "BEAUTY", "BEVERAGES", "BOOKS", "BREAD/BAKERY", "CELEBRATION",
    "CLEANING", "DAIRY", "DELI", "EGGS", "FROZEN FOODS", "GROCERY I", "GROCERY II", "HARDWARE",
    "HOME AND KITCHEN I", "HOME AND KITCHEN II", "HOME APPLIANCES", "HOME CARE", "LADIESWEAR",
    "LAWN AND GARDEN", "LINGERIE", "LIQUOR,WINE,BEER", "MAGAZINES", "MEATS", "PERSONAL CARE",
    "PET SUPPLIES", "PLAYERS AND ELECTRONICS", "POULTRY", "PREPARED FOODS", "PRODUCE",
    "SCHOOL AND OFFICE SUPPLIES", "SEAFOOD",
)
# Sold by weight: their unit_sales are kilograms with decimals.
WEIGHED_FAMILIES = frozenset({"PRODUCE", "MEATS", "POULTRY", "DELI", "SEAFOOD"})
PERISHABLE_FAMILIES = WEIGHED_FAMILIES | {"BREAD/BAKERY", "DAIRY", "EGGS", "PREPARED FOODS"}
CITIES = (
    ("Quito", "Pichincha"), ("Guayaquil", "Guayas"), ("Cuenca", "Azuay"), ("Santo Domingo",
    "Santo Domingo de los Tsachilas"), ("Ambato", "Tungurahua"), ("Latacunga", "Cotopaxi"),
    ("Machala", "El Oro"), ("Manta", "Manabi"), ("Loja", "Loja"), ("Riobamba", "Chimborazo"),
)
TRAIN_START, TRAIN_END = "2013-01-01", "2017-08-15"
PROMOTION_FROM = np.datetime64("2014-04-01")


def write_stores(folder: Path, n_stores: int, rng: np.random.Generator) -> pd.DataFrame:
    """``stores.csv``: store_nbr, city, state, type, cluster."""
    place = rng.integers(0, len(CITIES), n_stores)
    place[: min(n_stores, len(CITIES))] = np.arange(min(n_stores, len(CITIES)))
    frame = pd.DataFrame(
        {
            "store_nbr": np.arange(1, n_stores + 1),
            "city": [CITIES[i][0] for i in place],
            "state": [CITIES[i][1] for i in place],
            "type": rng.choice(list("ABCDE"), n_stores),
            "cluster": rng.integers(1, 18, n_stores),
        }
    )
    frame.to_csv(folder / "stores.csv", index=False)
    return frame


def write_items(folder: Path, n_items: int, rng: np.random.Generator) -> pd.DataFrame:
    """``items.csv``: item_nbr, family, class, perishable."""
    families = rng.choice(FAMILIES, n_items)
    frame = pd.DataFrame(
        {
            "item_nbr": np.sort(rng.choice(np.arange(96995, 2_134_244), n_items, replace=False)),
            "family": families,
            "class": rng.integers(1002, 7780, n_items),
            "perishable": np.isin(families, list(PERISHABLE_FAMILIES)).astype(int),
        }
    )
    frame.to_csv(folder / "items.csv", index=False)
    return frame


def write_calendar_files(folder: Path, rng: np.random.Generator) -> None:
    """``oil.csv`` (weekdays, a few empty) and ``holidays_events.csv`` (a realistic handful)."""
    days = pd.bdate_range("2013-01-01", "2017-08-31")
    price = 93 + np.cumsum(rng.normal(0, 1.2, len(days)))
    price = np.clip(price, 26, 110).round(2).astype(object)
    empty = days.strftime("%m-%d").isin(["01-01", "12-25", "05-01"])
    price[empty] = ""
    pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "dcoilwtico": price}).to_csv(
        folder / "oil.csv", index=False
    )
    rows = []
    for year in range(2012, 2018):
        rows += [
            (f"{year}-01-01", "Holiday", "National", "Ecuador", "Primer dia del ano", "False"),
            (f"{year}-05-01", "Holiday", "National", "Ecuador", "Dia del Trabajo", "False"),
            (f"{year}-07-25", "Holiday", "Local", "Guayaquil", "Fundacion de Guayaquil", "False"),
            (f"{year}-10-09", "Holiday", "Local", "Guayaquil", "Independencia de Guayaquil", "True"),
            (f"{year}-10-11", "Transfer", "Local", "Guayaquil", "Traslado Independencia de Guayaquil", "False"),
            (f"{year}-11-11", "Holiday", "Regional", "Cotopaxi", "Provincializacion de Cotopaxi", "False"),
            (f"{year}-12-24", "Additional", "National", "Ecuador", "Navidad-1", "False"),
            (f"{year}-12-25", "Holiday", "National", "Ecuador", "Navidad", "False"),
            (f"{year}-12-26", "Bridge", "National", "Ecuador", "Puente Navidad", "False"),
        ]
        rows.append((f"{year + 1}-01-10", "Work Day", "National", "Ecuador", "Recupero puente Navidad", "False"))
    rows.append(("2016-04-16", "Event", "National", "Ecuador", "Terremoto Manabi", "False"))
    frame = pd.DataFrame(rows, columns=["date", "type", "locale", "locale_name", "description", "transferred"])
    frame.sort_values("date").to_csv(folder / "holidays_events.csv", index=False)


def write_train_csv(
    path: Path,
    rows: int,
    stores: pd.DataFrame,
    items: pd.DataFrame,
    rng: np.random.Generator,
    chunk_days: int = 60,
) -> pd.DataFrame:
    """Write about ``rows`` rows of ``train.csv``; return the (date, store_nbr) pairs with sales.

    Each day draws a random subset of the store x item grid (a store sells a different mix every
    day); the daily share grows ~40% over the years as in the real file.
    """
    days = np.arange(np.datetime64(TRAIN_START), np.datetime64(TRAIN_END) + 1)
    growth = np.linspace(1.0, 1.4, len(days))
    grid = len(stores) * len(items)
    share = rows * growth / growth.sum() / grid
    store_ids = stores["store_nbr"].to_numpy(np.int16)
    item_ids = items["item_nbr"].to_numpy(np.int32)
    weighed = np.isin(items["family"].to_numpy(), list(WEIGHED_FAMILIES))
    popularity = rng.gamma(1.2, 4.0, len(items))
    date_text = np.datetime_as_string(days)
    next_id = 0
    store_days = []
    schema = pa.schema(
        [("id", pa.int64()), ("date", pa.string()), ("store_nbr", pa.int16()),
         ("item_nbr", pa.int32()), ("unit_sales", pa.float64()), ("onpromotion", pa.string())]
    )
    # pyarrow quotes header names; the real header is bare, so it is written by hand.
    with open(path, "wb") as sink, pacsv.CSVWriter(
        sink, schema, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none")
    ) as writer:
        sink.write((",".join(schema.names) + "\n").encode())
        for start in range(0, len(days), chunk_days):
            block = slice(start, min(start + chunk_days, len(days)))
            picked = rng.random((block.stop - block.start, grid)) < share[block, None]
            day_offset, cell = np.nonzero(picked)  # sorted by day, then store, then item
            day_index = day_offset + start
            store_pos, item_pos = np.divmod(cell, len(items))
            n = len(cell)
            units = rng.poisson(popularity[item_pos]).astype(np.float64) + 1
            kilos = weighed[item_pos]
            units[kilos] = np.round(rng.gamma(2.0, popularity[item_pos[kilos]] / 2) + 0.05, 3)
            units[rng.random(n) < 1e-4] *= -1  # returns
            promo = np.where(rng.random(n) < 0.07, "True", "False").astype(object)
            promo[days[day_index] < PROMOTION_FROM] = None
            writer.write_table(
                pa.table(
                    {
                        "id": np.arange(next_id, next_id + n, dtype=np.int64),
                        "date": pa.array(date_text[day_index]),
                        "store_nbr": store_ids[store_pos],
                        "item_nbr": item_ids[item_pos],
                        "unit_sales": units,
                        "onpromotion": pa.array(promo, type=pa.string()),
                    },
                    schema=schema,
                )
            )
            next_id += n
            pairs = np.unique(day_index * len(stores) + store_pos)
            store_days.append(
                pd.DataFrame({"date": date_text[pairs // len(stores)], "store_nbr": store_ids[pairs % len(stores)]})
            )
    return pd.concat(store_days, ignore_index=True)


def write_download(
    folder: str | Path, train_rows: int, n_stores: int = 54, n_items: int = 4100, seed: int = 2017
) -> None:
    """Write all seven Favorita-shaped files to ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    stores = write_stores(folder, n_stores, rng)
    items = write_items(folder, n_items, rng)
    write_calendar_files(folder, rng)
    store_days = write_train_csv(folder / "train.csv", train_rows, stores, items, rng)
    store_days["transactions"] = rng.integers(300, 4500, len(store_days))
    store_days.to_csv(folder / "transactions.csv", index=False)
    test_days = pd.date_range("2017-08-16", "2017-08-31").strftime("%Y-%m-%d")
    grid = pd.MultiIndex.from_product(
        [test_days, stores["store_nbr"], items["item_nbr"][:200]], names=["date", "store_nbr", "item_nbr"]
    ).to_frame(index=False)
    grid.insert(0, "id", np.arange(125_497_040, 125_497_040 + len(grid)))
    grid["onpromotion"] = np.where(rng.random(len(grid)) < 0.07, "True", "False")
    grid.to_csv(folder / "test.csv", index=False)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Write a Favorita-shaped download.")
    parser.add_argument("folder")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=2017)
    arguments = parser.parse_args()
    write_download(arguments.folder, arguments.rows, seed=arguments.seed)
