"""A Favorita-shaped download of any size, for the benchmark, the tests and a look without Kaggle.

The real files cannot be downloaded here or committed. This writes the same seven files with the
real columns, spellings and quirks, and the shapes that make the real download hard to process:

- **the active grid is dense and skewed**: at the default size (54 stores, 4,100 items,
  125,497,040 rows) about a third of the store x item x day grid has a row, as in the release
  (125,497,040 / (54 x 4,100 x 1,684 selling days) = 0.337). Each store x item cell has a
  propensity (store size x item popularity, both log-normal); a day's rows are drawn cell by cell
  with probability ``min(1, k_d x propensity)``, ``k_d`` solved so the day gets its share of the
  rows. Popular items therefore sell in nearly every store every day and the tail rarely.
- **stores open mid-history** (no rows before their opening day), **close for a while**, and
  **every store is closed on 25 December** (no row at all); on 1 January one store sells.
- **transactions disagree with sales**: ``transactions.csv`` misses some store-days that have
  sales and has some store-days without any sales row.
- **small tables at the release's counts**: 54 stores in 22 cities and 16 states,
  ``holidays_events.csv`` with 350 rows (2012-03-02..2017-12-26), ``oil.csv`` on the 1,218
  weekdays 2013-01-01..2017-08-31 with 43 empty prices, 83,488 transaction rows, and ``test.csv``
  as the full grid of stores x 3,901 items x 16 days (3,370,464 rows), some items new in test.
- rows sorted by date, store, item; weighed items in fractional kilograms; rare returns;
  ``onpromotion`` empty before 2014-04-01 and ``True``/``False`` after.

Which of these numbers are sourced and which are assumptions is in docs/favorita.md
("The generator"). Values are random, not Favorita's: use it for volume and shape, not findings.

Everything derives from ``seed``. ``train.csv`` is written in chunks of days with numpy and
pyarrow's CSV writer: memory stays at one chunk (~0.5 GB at the default size) and the full
125M rows take minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from dateutil.easter import easter

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
# The 22 cities of the release's stores and their 16 provinces (the "state" column).
CITIES = (
    ("Quito", "Pichincha"), ("Guayaquil", "Guayas"), ("Cuenca", "Azuay"),
    ("Santo Domingo", "Santo Domingo de los Tsachilas"), ("Ambato", "Tungurahua"),
    ("Latacunga", "Cotopaxi"), ("Machala", "El Oro"), ("Manta", "Manabi"), ("Loja", "Loja"),
    ("Riobamba", "Chimborazo"), ("Salinas", "Santa Elena"), ("Libertad", "Guayas"),
    ("Babahoyo", "Los Rios"), ("Quevedo", "Los Rios"), ("Daule", "Guayas"), ("Playas", "Guayas"),
    ("Esmeraldas", "Esmeraldas"), ("Ibarra", "Imbabura"), ("Cayambe", "Pichincha"),
    ("El Carmen", "Manabi"), ("Puyo", "Pastaza"), ("Guaranda", "Bolivar"),
)

TRAIN_START, TRAIN_END = date(2013, 1, 1), date(2017, 8, 15)
TEST_START, TEST_END = date(2017, 8, 16), date(2017, 8, 31)
OIL_START, OIL_END = date(2013, 1, 1), date(2017, 8, 31)
HOLIDAYS_START, HOLIDAYS_END = date(2012, 3, 2), date(2017, 12, 26)
PROMOTION_FROM = np.datetime64("2014-04-01")

# --- The release's counts (sourced; see docs/favorita.md) ---------------------------------------
RELEASE_TRAIN_ROWS = 125_497_040
RELEASE_STORES, RELEASE_ITEMS = 54, 4_100
RELEASE_TEST_ITEMS = 3_901  # test.csv: 3,370,464 rows = 54 stores x 3,901 items x 16 days
RELEASE_TRANSACTIONS = 83_488
RELEASE_HOLIDAYS = 350
RELEASE_OIL_MISSING = 43
# On 2013-01-01 the release's transactions.csv has one store-day (store 25).
NEW_YEAR_STORE = 25


@dataclass(frozen=True)
class Shape:
    """The generator's knobs that are assumptions, not facts of the release (docs/favorita.md)."""

    # Spread of item popularity and store size (log-normal sigmas): sets the skew of the grid.
    item_sigma: float = 2.0
    store_sigma: float = 0.5
    # Rows per open store-day grow linearly by this factor from the first day to the last.
    growth: float = 1.3
    # Share of stores that open after 2013-01-01 (at a day drawn in 2013-03..2017-06).
    opening_share: float = 0.13
    # Store-days with sales but no transaction count, and the reverse, as shares of store-days.
    missing_transactions_share: float = 0.003
    transactions_without_sales_share: float = 0.0005
    # Items in items.csv that never sell in train (new in test), as a share of items.
    new_in_test_share: float = 0.015
    # Share of rows on promotion (from 2014-04-01) and of returns (negative unit_sales).
    promotion_share: float = 0.07
    return_share: float = 1e-4


@dataclass
class Plan:
    """Who sells when: the calendar of the download, decided before any row is written."""

    days: np.ndarray  # datetime64[D], every day of train's range
    stores: pd.DataFrame
    items: pd.DataFrame
    store_size: np.ndarray  # a_s
    item_popularity: np.ndarray  # b_i (0 for items new in test)
    sells: np.ndarray  # bool [day, store]: the store-day has rows in train.csv
    counted: np.ndarray  # bool [day, store]: the store-day has a row in transactions.csv
    day_rows: np.ndarray  # int64 [day]: rows of train.csv on that day (sums to train_rows)
    day_scale: np.ndarray  # float [day]: k_d
    test_items: np.ndarray  # item_nbr of test.csv


def write_stores(folder: Path, n_stores: int, rng: np.random.Generator) -> pd.DataFrame:
    """``stores.csv``: store_nbr, city, state, type, cluster; every city has a store when it can."""
    place = rng.integers(0, len(CITIES), n_stores)
    head = min(n_stores, len(CITIES))
    place[:head] = rng.permutation(len(CITIES))[:head]
    # Quito and Guayaquil hold most stores, as in the release.
    spare = np.arange(head, n_stores)
    big_city = np.where(rng.random(len(spare)) < 0.6, 0, 1)
    place[spare] = np.where(rng.random(len(spare)) < 0.8, big_city, rng.integers(0, len(CITIES), len(spare)))
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


def _us_market_holidays(year: int) -> list[date]:
    """Weekdays the WTI price (a US market price) is not quoted: the NYMEX holidays."""

    def nth(month: int, weekday: int, n: int) -> date:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))

    def last(month: int, weekday: int) -> date:
        end = date(year, month + 1, 1) - timedelta(days=1)
        return end - timedelta(days=(end.weekday() - weekday) % 7)

    def observed(day: date) -> date:
        return day + timedelta(days={5: -1, 6: 1}.get(day.weekday(), 0))

    return [
        observed(date(year, 1, 1)), nth(1, 0, 3), nth(2, 0, 3), easter(year) - timedelta(days=2),
        last(5, 0), observed(date(year, 7, 4)), nth(9, 0, 1), nth(11, 3, 4), observed(date(year, 12, 25)),
    ]


def write_oil(folder: Path, rng: np.random.Generator) -> pd.DataFrame:
    """``oil.csv``: weekdays only; the price empty on 43 of them (US market holidays first)."""
    days = pd.bdate_range(OIL_START, OIL_END)
    price = 93 + np.cumsum(rng.normal(0, 1.2, len(days)))
    price = np.clip(price, 26, 110).round(2).astype(object)
    closed = {d for year in range(OIL_START.year, OIL_END.year + 1) for d in _us_market_holidays(year)}
    empty = np.flatnonzero(np.isin(days.date, list(closed)))
    # The release's count of empty prices is kept whatever the holiday arithmetic gives.
    if len(empty) > RELEASE_OIL_MISSING:
        empty = np.sort(rng.choice(empty, RELEASE_OIL_MISSING, replace=False))
    elif len(empty) < RELEASE_OIL_MISSING:
        others = np.setdiff1d(np.arange(len(days)), empty)
        extra = rng.choice(others, RELEASE_OIL_MISSING - len(empty), replace=False)
        empty = np.sort(np.concatenate([empty, extra]))
    price[empty] = ""
    frame = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "dcoilwtico": price})
    frame.to_csv(folder / "oil.csv", index=False)
    return frame


def holiday_rows() -> list[tuple]:
    """Candidate holidays and events 2012..2017 (more than the release's 350; trimmed by the caller)."""
    rows: list[tuple] = []

    def add(day: date, kind: str, locale: str, name: str, description: str, transferred: bool = False):
        rows.append((day, kind, locale, name, description, "True" if transferred else "False"))

    for year in range(2012, 2018):
        e = easter(year)
        add(date(year, 1, 1), "Holiday", "National", "Ecuador", "Primer dia del ano")
        add(e - timedelta(days=48), "Holiday", "National", "Ecuador", "Carnaval")
        add(e - timedelta(days=47), "Holiday", "National", "Ecuador", "Carnaval")
        add(e - timedelta(days=2), "Holiday", "National", "Ecuador", "Viernes Santo")
        add(date(year, 5, 1), "Holiday", "National", "Ecuador", "Dia del Trabajo")
        may = date(year, 5, 1)
        add(may + timedelta(days=(6 - may.weekday()) % 7 + 7), "Event", "National", "Ecuador", "Dia de la Madre")
        add(date(year, 5, 24), "Holiday", "National", "Ecuador", "Batalla de Pichincha", year == 2016)
        add(date(year, 8, 10), "Holiday", "National", "Ecuador", "Primer Grito de Independencia", year == 2016)
        add(date(year, 10, 9), "Holiday", "National", "Ecuador", "Independencia de Guayaquil", year in (2012, 2013, 2014))
        add(date(year, 11, 2), "Holiday", "National", "Ecuador", "Dia de Difuntos")
        add(date(year, 11, 3), "Holiday", "National", "Ecuador", "Independencia de Cuenca")
        if year >= 2014:
            thanksgiving = date(year, 11, 1) + timedelta(days=(3 - date(year, 11, 1).weekday()) % 7 + 21)
            add(thanksgiving + timedelta(days=1), "Event", "National", "Ecuador", "Black Friday")
            add(thanksgiving + timedelta(days=4), "Event", "National", "Ecuador", "Cyber Monday")
        for before in (4, 3, 2, 1):
            add(date(year, 12, 25 - before), "Additional", "National", "Ecuador", f"Navidad-{before}")
        add(date(year, 12, 25), "Holiday", "National", "Ecuador", "Navidad")
        add(date(year, 12, 26), "Additional", "National", "Ecuador", "Navidad+1")
        add(date(year, 12, 31), "Additional", "National", "Ecuador", "Primer dia del ano-1")
        for index, (city, state) in enumerate(CITIES):
            add(date(year, 1 + index % 12, 2 + (7 * index) % 26), "Holiday", "Local", city, f"Fundacion de {city}")
            if index % 2:
                add(date(year, 1 + (index * 5) % 12, 3 + (11 * index) % 25), "Holiday", "Local", city,
                    f"Cantonizacion de {city}")
        for index, state in enumerate(sorted({state for _, state in CITIES})[:4]):
            add(date(year, 1 + (index * 3 + 2) % 12, 1 + (5 * index) % 27), "Holiday", "Regional", state,
                f"Provincializacion de {state}")
    # The release's first row: Fundacion de Manta, 2012-03-02.
    rows = [row for row in rows if row[4] != "Fundacion de Manta"]
    for year in range(2012, 2018):
        add(date(year, 3, 2), "Holiday", "Local", "Manta", "Fundacion de Manta")
    # Moved holidays: the day it moved to is a Transfer; bridges and the Saturdays that repay them.
    add(date(2012, 10, 12), "Transfer", "National", "Ecuador", "Traslado Independencia de Guayaquil")
    add(date(2013, 10, 11), "Transfer", "National", "Ecuador", "Traslado Independencia de Guayaquil")
    add(date(2014, 10, 10), "Transfer", "National", "Ecuador", "Traslado Independencia de Guayaquil")
    add(date(2016, 5, 27), "Transfer", "National", "Ecuador", "Traslado Batalla de Pichincha")
    add(date(2016, 8, 12), "Transfer", "National", "Ecuador", "Traslado Primer Grito de Independencia")
    add(date(2012, 12, 24), "Bridge", "National", "Ecuador", "Puente Navidad")
    add(date(2012, 12, 31), "Bridge", "National", "Ecuador", "Puente Primer dia del ano")
    add(date(2012, 12, 22), "Work Day", "National", "Ecuador", "Recupero puente Navidad")
    add(date(2013, 1, 5), "Work Day", "National", "Ecuador", "Recupero puente primer dia del ano")
    add(date(2014, 12, 26), "Bridge", "National", "Ecuador", "Puente Navidad")
    add(date(2014, 12, 20), "Work Day", "National", "Ecuador", "Recupero Puente Navidad")
    add(date(2016, 11, 4), "Bridge", "National", "Ecuador", "Puente Dia de Difuntos")
    add(date(2016, 11, 12), "Work Day", "National", "Ecuador", "Recupero Puente Dia de Difuntos")
    quake = date(2016, 4, 16)
    add(quake, "Event", "National", "Ecuador", "Terremoto Manabi")
    for after in range(1, 31):
        add(quake + timedelta(days=after), "Event", "National", "Ecuador", f"Terremoto Manabi+{after}")
    for offset, match in enumerate(("Inauguracion Mundial de futbol Brasil", "Mundial de futbol Brasil: Ecuador-Suiza",
                                    "Mundial de futbol Brasil: Ecuador-Honduras", "Mundial de futbol Brasil: Ecuador-Francia",
                                    "Mundial de futbol Brasil: Final")):
        add(date(2014, 6, 12) + timedelta(days=(0, 3, 8, 13, 31)[offset]), "Event", "National", "Ecuador", match)
    return rows


def write_holidays(folder: Path, rng: np.random.Generator) -> pd.DataFrame:
    """``holidays_events.csv``: 350 rows from 2012-03-02 to 2017-12-26, sorted by date."""
    frame = pd.DataFrame(
        holiday_rows(), columns=["date", "type", "locale", "locale_name", "description", "transferred"]
    )
    frame = frame[(frame["date"] >= HOLIDAYS_START) & (frame["date"] <= HOLIDAYS_END)]
    frame = frame.drop_duplicates(["date", "description"]).sort_values(["date", "description"], kind="stable")
    excess = len(frame) - RELEASE_HOLIDAYS
    if excess < 0:
        raise AssertionError(f"holiday candidates are {len(frame)}, fewer than the release's {RELEASE_HOLIDAYS}")
    # Trim local and regional rows (never the first or last day, nor anything national).
    droppable = frame.index[
        (frame["locale"] != "National") & (frame["date"] != HOLIDAYS_START) & (frame["date"] != HOLIDAYS_END)
    ]
    frame = frame.drop(rng.choice(droppable, excess, replace=False))
    frame["date"] = pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d")
    frame.to_csv(folder / "holidays_events.csv", index=False)
    return frame


def _largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to ``weights`` that sum exactly to ``total``."""
    share = weights / weights.sum() * total
    whole = np.floor(share).astype(np.int64)
    short = total - int(whole.sum())
    if short:
        whole[np.argsort(-(share - whole), kind="stable")[:short]] += 1
    return whole


def _solve_scales(targets: np.ndarray, sells: np.ndarray, size: np.ndarray, popularity: np.ndarray) -> np.ndarray:
    """Per day, ``k`` with sum over selling stores and items of ``min(1, k * size * popularity)`` = target."""
    b = np.sort(popularity[popularity > 0])
    prefix = np.concatenate([[0.0], np.cumsum(b)])

    def expected(k: np.ndarray) -> np.ndarray:
        t = k[:, None] * size[None, :]  # [day, store]
        below = np.searchsorted(b, 1.0 / t, side="left")  # items with t*b < 1
        per_store = (len(b) - below) + t * prefix[below]
        return (per_store * sells).sum(axis=1)

    low = np.zeros(len(targets))
    high = np.full(len(targets), 1.0 / (size.min() * b.min()))
    for _ in range(60):
        middle = (low + high) / 2
        too_few = expected(middle) < targets
        low = np.where(too_few, middle, low)
        high = np.where(too_few, high, middle)
    return high


def plan_download(
    stores: pd.DataFrame, items: pd.DataFrame, train_rows: int, rng: np.random.Generator, shape: Shape = Shape()
) -> Plan:
    """Decide openings, closures, the transactions' disagreements and each day's row count."""
    days = np.arange(np.datetime64(TRAIN_START), np.datetime64(TRAIN_END) + 1)
    n_days, n_stores, n_items = len(days), len(stores), len(items)
    store_size = rng.lognormal(0.0, shape.store_sigma, n_stores)
    popularity = rng.lognormal(0.0, shape.item_sigma, n_items)
    new_items = rng.choice(n_items, max(1, round(n_items * shape.new_in_test_share)), replace=False)
    popularity[new_items] = 0.0

    month_day = pd.DatetimeIndex(days).strftime("%m-%d").to_numpy()
    open_ = np.ones((n_days, n_stores), dtype=bool)
    open_[month_day == "12-25"] = False
    # 1 January: one store sells (store 25 in the release when there is one).
    new_year_store = min(NEW_YEAR_STORE, n_stores) - 1
    open_[np.ix_(month_day == "01-01", np.arange(n_stores) != new_year_store)] = False
    # Openings: a share of stores (never the new-year store) first sell mid-history.
    candidates = np.setdiff1d(np.arange(n_stores), [new_year_store])
    n_openings = min(len(candidates), max(1, round(n_stores * shape.opening_share)))
    opening_stores = rng.choice(candidates, n_openings, replace=False)
    first_day, last_day = (np.datetime64("2013-03-01") - days[0]).astype(int), (np.datetime64("2017-06-01") - days[0]).astype(int)
    offsets = rng.integers(first_day, last_day, n_openings)

    # Transactions: T = A - C - G, where A = open store-days, C = store-days closed for a while
    # (neither file), G = store-days with sales and no count. X store-days with a count and no
    # sales come out of train's store-days. C is chosen so T is the release's 83,488 at full size;
    # openings drawn so late that A is already short of it are pulled earlier until it fits.
    target = round(RELEASE_TRANSACTIONS * n_stores / RELEASE_STORES)
    while True:
        opened = open_.copy()
        for store, offset in zip(opening_stores, offsets):
            opened[:offset, store] = False
        open_days = int(opened.sum())
        missing_count = max(1, round(open_days * shape.missing_transactions_share))
        if open_days - missing_count >= target or offsets.max() <= first_day:
            break
        offsets = np.maximum(first_day, (offsets * 0.9).astype(int))
    open_ = opened
    closed_days = max(0, open_days - missing_count - target)
    sells = open_.copy()
    while closed_days > 0:
        store = rng.integers(n_stores)
        start = rng.integers(n_days)
        block = np.flatnonzero(sells[start : start + min(closed_days, int(rng.integers(3, 45))), store]) + start
        sells[block, store] = False
        closed_days -= len(block)
    counted = sells.copy()
    open_cells = np.flatnonzero(sells.ravel())
    picked = rng.choice(open_cells, missing_count, replace=False)
    counted.reshape(-1)[picked] = False
    rest = np.setdiff1d(open_cells, picked)
    without_sales = rng.choice(rest, max(1, round(open_days * shape.transactions_without_sales_share)), replace=False)
    sells.reshape(-1)[without_sales] = False

    growth = np.linspace(1.0, shape.growth, n_days)
    weights = growth * (sells * store_size).sum(axis=1)
    day_rows = _largest_remainder(weights, train_rows)
    capacity = sells.sum(axis=1) * int((popularity > 0).sum())
    if (day_rows > 0.97 * capacity).any():
        raise ValueError(
            f"{train_rows:,} rows do not fit {n_stores} stores x {n_items} items: use fewer rows or more items"
        )
    scales = _solve_scales(day_rows.astype(float), sells, store_size, popularity)
    n_test = max(len(new_items), round(n_items * RELEASE_TEST_ITEMS / RELEASE_ITEMS))
    old_items = np.setdiff1d(np.arange(n_items), new_items)
    test_positions = np.sort(np.concatenate([new_items, rng.choice(old_items, n_test - len(new_items), replace=False)]))
    return Plan(
        days=days,
        stores=stores,
        items=items,
        store_size=store_size,
        item_popularity=popularity,
        sells=sells,
        counted=counted,
        day_rows=day_rows,
        day_scale=scales,
        test_items=items["item_nbr"].to_numpy()[test_positions],
    )


TRAIN_SCHEMA = pa.schema(
    [("id", pa.int64()), ("date", pa.date32()), ("store_nbr", pa.int16()),
     ("item_nbr", pa.int32()), ("unit_sales", pa.float64()), ("onpromotion", pa.string())]
)
_PROMO_WORDS = pa.array(["False", "True"])


def _flag_text(flags: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """``True``/``False`` text (the release's spelling), empty where ``null``."""
    indices = pa.array(flags.astype(np.int8), mask=null)
    return pa.DictionaryArray.from_arrays(indices, _PROMO_WORDS).cast(pa.string())


def _open_csv(path: Path, schema: pa.Schema):
    """A pyarrow CSV writer with the release's bare header (pyarrow would quote the names)."""
    sink = open(path, "wb")
    sink.write((",".join(schema.names) + "\n").encode())
    writer = pacsv.CSVWriter(sink, schema, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return sink, writer


def write_train_csv(
    path: Path, plan: Plan, rng: np.random.Generator, shape: Shape = Shape(), chunk_days: int = 30
) -> int:
    """Write ``train.csv`` day chunk by day chunk; return the rows written (= sum of the plan's)."""
    n_stores, n_items = len(plan.stores), len(plan.items)
    store_ids = plan.stores["store_nbr"].to_numpy(np.int16)
    item_ids = plan.items["item_nbr"].to_numpy(np.int32)
    weighed = np.isin(plan.items["family"].to_numpy(), list(WEIGHED_FAMILIES))
    propensity = (plan.store_size[:, None] * plan.item_popularity[None, :]).astype(np.float32).ravel()
    # Mean units of a row: larger for popular items in big stores (a few units to a few dozen).
    mean_units = (1.0 + 6.0 * np.log1p(propensity / np.median(propensity[propensity > 0]))).astype(np.float32)
    sells_item = np.tile(plan.item_popularity > 0, n_stores)
    next_id = 0
    sink, writer = _open_csv(path, TRAIN_SCHEMA)
    with sink, writer:
        for start in range(0, len(plan.days), chunk_days):
            stop = min(start + chunk_days, len(plan.days))
            scale = plan.day_scale[start:stop].astype(np.float32)
            picked = rng.random((stop - start, propensity.size), dtype=np.float32) < (
                scale[:, None] * propensity[None, :]
            )
            for offset in range(stop - start):
                day = start + offset
                row = picked[offset]
                row &= np.repeat(plan.sells[day], n_items) & sells_item
                need = int(plan.day_rows[day]) - int(np.count_nonzero(row))
                # The Bernoulli draw is off by ~sqrt(n); the difference is settled at random.
                if need > 0:
                    row[rng.choice(np.flatnonzero(~row & np.repeat(plan.sells[day], n_items) & sells_item), need, replace=False)] = True
                elif need < 0:
                    row[rng.choice(np.flatnonzero(row), -need, replace=False)] = False
            day_offset, cell = np.nonzero(picked)  # sorted by day, then store, then item
            n = len(cell)
            if n == 0:
                continue
            store_pos, item_pos = np.divmod(cell, n_items)
            units = rng.poisson(mean_units[cell]).astype(np.float64) + 1
            kilos = weighed[item_pos]
            units[kilos] = np.round(rng.gamma(2.0, mean_units[cell[kilos]] / 2) + 0.05, 3)
            units[rng.random(n) < shape.return_share] *= -1
            dates = plan.days[start + day_offset]
            promo = _flag_text(rng.random(n) < shape.promotion_share, dates < PROMOTION_FROM)
            writer.write_table(
                pa.table(
                    [
                        pa.array(np.arange(next_id, next_id + n, dtype=np.int64)),
                        pa.array(dates, type=pa.date32()),
                        pa.array(store_ids[store_pos]),
                        pa.array(item_ids[item_pos]),
                        pa.array(units),
                        promo,
                    ],
                    schema=TRAIN_SCHEMA,
                )
            )
            next_id += n
    return next_id


def write_transactions(folder: Path, plan: Plan, rng: np.random.Generator) -> pd.DataFrame:
    """``transactions.csv``: one row per counted store-day, sorted by date then store."""
    day_index, store_pos = np.nonzero(plan.counted)
    base = 300 + 2500 * plan.store_size / plan.store_size.max()
    weekend = pd.DatetimeIndex(plan.days[day_index]).dayofweek.to_numpy() >= 5
    count = base[store_pos] * rng.normal(1.0, 0.12, len(day_index)) * np.where(weekend, 1.15, 1.0)
    frame = pd.DataFrame(
        {
            "date": np.datetime_as_string(plan.days[day_index]),
            "store_nbr": plan.stores["store_nbr"].to_numpy()[store_pos],
            "transactions": np.maximum(1, count.round()).astype(np.int64),
        }
    )
    frame.to_csv(folder / "transactions.csv", index=False)
    return frame


def write_test_csv(folder: Path, plan: Plan, first_id: int, rng: np.random.Generator, shape: Shape = Shape()) -> int:
    """``test.csv``: every store x test item x day of 2017-08-16..31; ids follow train's."""
    days = np.arange(np.datetime64(TEST_START), np.datetime64(TEST_END) + 1)
    stores = plan.stores["store_nbr"].to_numpy(np.int16)
    per_day = len(stores) * len(plan.test_items)
    schema = pa.schema([(name, TRAIN_SCHEMA.field(name).type) for name in ("id", "date", "store_nbr", "item_nbr", "onpromotion")])
    sink, writer = _open_csv(folder / "test.csv", schema)
    with sink, writer:
        for index, day in enumerate(days):
            writer.write_table(
                pa.table(
                    [
                        pa.array(np.arange(first_id + index * per_day, first_id + (index + 1) * per_day, dtype=np.int64)),
                        pa.array(np.full(per_day, day), type=pa.date32()),
                        pa.array(np.repeat(stores, len(plan.test_items))),
                        pa.array(np.tile(plan.test_items.astype(np.int32), len(stores))),
                        _flag_text(rng.random(per_day) < shape.promotion_share),
                    ],
                    schema=schema,
                )
            )
    return per_day * len(days)


def write_download(
    folder: str | Path,
    train_rows: int = RELEASE_TRAIN_ROWS,
    n_stores: int = RELEASE_STORES,
    n_items: int = RELEASE_ITEMS,
    seed: int = 2017,
    shape: Shape = Shape(),
) -> Plan:
    """Write all seven Favorita-shaped files to ``folder``; return the plan they were drawn from."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    stores = write_stores(folder, n_stores, rng)
    items = write_items(folder, n_items, rng)
    write_oil(folder, rng)
    write_holidays(folder, rng)
    plan = plan_download(stores, items, train_rows, rng, shape)
    written = write_train_csv(folder / "train.csv", plan, rng, shape)
    assert written == train_rows, (written, train_rows)
    write_transactions(folder, plan, rng)
    write_test_csv(folder, plan, train_rows, rng, shape)
    return plan


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Write a Favorita-shaped download.")
    parser.add_argument("folder")
    parser.add_argument("--rows", type=int, default=RELEASE_TRAIN_ROWS)
    parser.add_argument("--stores", type=int, default=RELEASE_STORES)
    parser.add_argument("--items", type=int, default=RELEASE_ITEMS)
    parser.add_argument("--seed", type=int, default=2017)
    arguments = parser.parse_args()
    write_download(arguments.folder, arguments.rows, arguments.stores, arguments.items, arguments.seed)
