"""The generator's download carries the real release's shapes (issue 14).

Expected values come from the Kaggle release (docs/favorita.md, "The generator"), not from the
generator: 54 stores in 22 cities and 16 states, 350 holiday rows from 2012-03-02 to 2017-12-26,
1,218 oil weekdays with 43 empty prices, 83,488 transaction rows for 54 stores, test.csv as the
stores x items x 16-day grid, about a third of the store x item x day grid filled, no sales on
25 December. Each property is checked on one small generated download (54 stores, 40 items).
"""

from __future__ import annotations

import filecmp

import numpy as np
import pandas as pd
import pytest

from retailops.favorita.availability import StageOptions, check_and_stage, require_tables
from retailops.favorita.duck import DuckSettings, connect
from retailops.favorita.quality import build_checks, run_checks
from retailops.favorita.synthetic import plan_download, write_download, write_items, write_stores

STORES, ITEMS = 54, 40
SELLING_DAYS = 1_684  # 2013-01-01..2017-08-15 is 1,688 days; four Christmases have no sales
# A third of the grid, as in the release: 125,497,040 / (54 x 4,100 x 1,684) = 0.337.
ROWS = round(0.337 * STORES * ITEMS * SELLING_DAYS)


@pytest.fixture(scope="module")
def download(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic") / "download"
    write_download(folder, train_rows=ROWS, n_stores=STORES, n_items=ITEMS, seed=7)
    return folder


@pytest.fixture(scope="module")
def train(download):
    return pd.read_csv(download / "train.csv", parse_dates=["date"], dtype={"onpromotion": "string"})


@pytest.fixture(scope="module")
def transactions(download):
    return pd.read_csv(download / "transactions.csv", parse_dates=["date"])


def test_small_tables_have_the_release_counts(download):
    stores = pd.read_csv(download / "stores.csv")
    assert list(stores.columns) == ["store_nbr", "city", "state", "type", "cluster"]
    assert len(stores) == 54 and stores["city"].nunique() == 22 and stores["state"].nunique() == 16
    holidays = pd.read_csv(download / "holidays_events.csv")
    assert list(holidays.columns) == ["date", "type", "locale", "locale_name", "description", "transferred"]
    assert len(holidays) == 350
    assert (holidays["date"].min(), holidays["date"].max()) == ("2012-03-02", "2017-12-26")
    assert holidays["date"].is_monotonic_increasing
    assert {"Holiday", "Transfer", "Additional", "Bridge", "Work Day", "Event"} == set(holidays["type"])
    assert holidays["transferred"].any() and not holidays["transferred"].all()
    oil = pd.read_csv(download / "oil.csv", parse_dates=["date"])
    assert len(oil) == 1_218 and oil["dcoilwtico"].isna().sum() == 43
    assert (oil["date"].dt.dayofweek < 5).all()
    assert (oil["date"].min(), oil["date"].max()) == (pd.Timestamp("2013-01-01"), pd.Timestamp("2017-08-31"))
    test = pd.read_csv(download / "test.csv", parse_dates=["date"])
    test_items = round(ITEMS * 3_901 / 4_100)  # the release: 3,370,464 = 54 x 3,901 x 16
    assert len(test) == STORES * test_items * 16 and test["item_nbr"].nunique() == test_items
    assert (test["date"].min(), test["date"].max()) == (pd.Timestamp("2017-08-16"), pd.Timestamp("2017-08-31"))
    assert test["id"].iloc[0] == ROWS and test["id"].is_monotonic_increasing


def test_transactions_have_the_release_count(transactions):
    assert len(transactions) == 83_488
    assert transactions.loc[transactions["date"] == "2013-01-01", "store_nbr"].tolist() == [25]


def test_train_fills_a_third_of_the_grid_skewed(train):
    assert len(train) == ROWS
    assert train["id"].tolist() == list(range(ROWS))
    ordered = train[["date", "store_nbr", "item_nbr"]]
    assert ordered.equals(ordered.sort_values(["date", "store_nbr", "item_nbr"], ignore_index=True))
    assert 0.30 < len(train) / (STORES * ITEMS * train["date"].nunique()) < 0.37
    # Per item, the share of the store-days with sales that sold it.
    store_days = len(train[["date", "store_nbr"]].drop_duplicates())
    presence = train.groupby("item_nbr").size() / store_days
    # Popular items sell in nearly every store every day, the tail rarely.
    assert presence.max() > 0.95 and (presence > 0.9).sum() >= 3
    assert (presence < 0.1).sum() >= 5
    # The busiest tenth of items carries well over a tenth of the rows.
    top = presence.sort_values(ascending=False).head(len(presence) // 10)
    assert top.sum() / presence.sum() > 0.2


def test_stores_open_mid_history(train, transactions):
    first = train.groupby("store_nbr")["date"].min()
    late = first[first > "2013-03-01"]
    assert len(late) >= 3
    for store, opening in late.items():
        sold = train.loc[train["store_nbr"] == store, "date"].drop_duplicates()
        days_open = pd.date_range(opening, "2017-08-15")
        days_open = days_open[days_open.strftime("%m-%d") != "12-25"]
        # Once open, a store sells on (nearly) every day: an opening, not sparse sales.
        assert len(sold) / len(days_open) > 0.9, store
        assert transactions.loc[transactions["store_nbr"] == store, "date"].min() >= opening - pd.Timedelta(days=0)


def test_no_sales_on_christmas(train, transactions):
    for frame in (train, transactions):
        assert not ((frame["date"].dt.month == 12) & (frame["date"].dt.day == 25)).any()
    days = set(train["date"].drop_duplicates())
    for year in range(2013, 2017):
        assert pd.Timestamp(f"{year}-12-24") in days and pd.Timestamp(f"{year}-12-26") in days


def test_transactions_disagree_with_sales_a_little(train, transactions):
    sales_days = train[["date", "store_nbr"]].drop_duplicates()
    both = sales_days.merge(transactions[["date", "store_nbr"]], how="outer", indicator=True)
    without_count = (both["_merge"] == "left_only").sum()
    without_sales = (both["_merge"] == "right_only").sum()
    assert without_count > 0 and without_sales > 0
    assert without_count < 0.01 * len(sales_days) and without_sales < 0.01 * len(transactions)


def test_onpromotion_and_weighed_items(train):
    early = train["date"] < "2014-04-01"
    assert train.loc[early, "onpromotion"].isna().all()
    assert set(train.loc[~early, "onpromotion"]) == {"True", "False"}
    assert (train["unit_sales"] % 1 != 0).any() and (train["unit_sales"] < 0).any()


def test_same_seed_same_files(tmp_path):
    for name in ("a", "b"):
        write_download(tmp_path / name, train_rows=20_000, n_stores=6, n_items=30, seed=3)
    write_download(tmp_path / "c", train_rows=20_000, n_stores=6, n_items=30, seed=4)
    for filename in ("train.csv", "transactions.csv", "test.csv", "holidays_events.csv", "oil.csv", "stores.csv"):
        assert filecmp.cmp(tmp_path / "a" / filename, tmp_path / "b" / filename, shallow=False), filename
    assert not filecmp.cmp(tmp_path / "a" / "train.csv", tmp_path / "c" / "train.csv", shallow=False)


def test_too_many_rows_for_the_grid_is_refused(tmp_path):
    with pytest.raises(ValueError, match="do not fit"):
        write_download(tmp_path / "d", train_rows=6 * 30 * 1_700, n_stores=6, n_items=30, seed=3)


def test_the_study_stages_it_and_its_checks_pass_or_warn_as_they_should(download, tmp_path):
    settings = DuckSettings(temp_directory=str(tmp_path / "tmp"))
    availability = check_and_stage(download, tmp_path / "out", settings, StageOptions(expect_release="sample"))
    staged = require_tables(availability, download)
    by_table = availability.set_index("table")
    assert (by_table["status"] == "ok").all()
    # Dates, and for the small tables the counts too, are the release's.
    assert by_table.loc[["train", "test", "oil", "holidays_events", "transactions"], "release_status"].eq("passed").all()
    assert by_table.loc["transactions", "rows"] == 83_488 and by_table.loc["holidays_events", "rows"] == 350
    params = {"expected_dates": {"train": {"start": "2013-01-01", "end": "2017-08-15"}}, "calendar": {}, "limits": {}}
    with connect(settings) as con:
        quality = run_checks(con, staged, build_checks(params)).set_index("check")
    for check in ("train.primary_key_unique", "train.date_store_item_unique", "train.item_nbr_in_items",
                  "train.store_nbr_in_stores", "transactions.store_nbr_in_stores", "test.after_train",
                  "test.item_nbr_in_items", "train.onpromotion_recorded_from", "train.date_in_range"):
        assert quality.loc[check, "status"] == "passed", check
    # The consistency checks now find what the real files have: store-days on one side only.
    for check in ("transactions.store_day_has_sales", "train.store_day_has_transactions"):
        assert quality.loc[check, "status"] == "warned", check
        assert 0 < quality.loc[check, "failing_rows"] < 1_000, check
    # Oil has empty prices on some weekdays: a warning, as in the release.
    assert quality.loc["oil.dcoilwtico_not_null", "status"] == "warned"
    assert quality.loc["oil.dcoilwtico_not_null", "failing_rows"] == 43


@pytest.mark.parametrize("seed", [2017, 11])
def test_the_full_size_plan_has_the_release_counts(tmp_path, seed):
    """At 54 stores x 4,100 items x 125,497,040 rows (the plan only: no train.csv is written)."""
    rng = np.random.default_rng(seed)
    stores = write_stores(tmp_path, 54, rng)
    items = write_items(tmp_path, 4_100, rng)
    plan = plan_download(stores, items, 125_497_040, rng)
    assert plan.day_rows.sum() == 125_497_040
    assert plan.counted.sum() == 83_488
    assert len(plan.test_items) == 3_901  # 3,370,464 test rows / 54 stores / 16 days
    sells = plan.sells
    density = plan.day_rows.sum() / (54 * 4_100 * (sells.any(axis=1)).sum())
    assert 0.32 < density < 0.35  # the release: 125,497,040 / (54 x 4,100 x 1,684) = 0.337
    first_sale = sells.argmax(axis=0)
    assert (first_sale > 59).sum() >= 5  # stores opening after 2013-03-01
