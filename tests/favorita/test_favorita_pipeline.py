"""The favorita pipeline, run on small Favorita-shaped downloads whose contents are known."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from favorita_fixtures import kedro_favorita_cli, ITEMS, WEIGHED_ITEM, run_favorita, write_download

PROJECT = Path(__file__).resolve().parents[2]


def _fixture_sales(run) -> pd.DataFrame:
    train = run.written["train"].assign(date=lambda f: pd.to_datetime(f["date"]))
    return train.merge(ITEMS[["item_nbr", "family"]], on="item_nbr", how="left").fillna({"family": "UNKNOWN"})


# --- availability ------------------------------------------------------------------------------


def test_availability_lists_every_file_with_rows_and_date_ranges(clean_run):
    availability = clean_run.table("availability.parquet").set_index("table")
    assert (availability["status"] == "ok").all()
    for table, frame in clean_run.written.items():
        assert availability.loc[table, "rows"] == len(frame), table
    assert availability.loc["train", "min_date"] == pd.Timestamp("2013-01-01")
    assert availability.loc["train", "max_date"] == pd.Timestamp("2017-08-15")
    assert pd.isna(availability.loc["stores", "min_date"])  # no date column


def test_missing_optional_files_are_reported_and_the_rest_still_runs(partial_run):
    availability = partial_run.table("availability.parquet").set_index("table")
    for table in ("oil", "holidays_events", "transactions", "test"):
        assert availability.loc[table, "status"] == "missing"
    for table in ("train", "stores", "items"):
        assert availability.loc[table, "status"] == "ok"
    quality = partial_run.table("quality.parquet").set_index("check")
    assert quality.loc["oil.dcoilwtico_positive", "status"] == "skipped"
    assert quality.loc["oil.dcoilwtico_positive", "sample"] == "missing: oil.csv"
    assert quality.loc["train.item_nbr_in_items", "status"] == "passed"
    mart = partial_run.table("mart/daily_sales_store_family.parquet")
    assert mart["store_transactions"].isna().all() and mart["oil_price"].isna().all()
    assert not mart["is_holiday"].any()
    assert mart["unit_sales"].sum() == pytest.approx(partial_run.written["train"]["unit_sales"].sum())
    html = partial_run.report_html
    assert "not usable" in html and "oil.csv" in html and "holidays_events.csv" in html


def test_missing_train_stops_the_run_with_one_line_naming_it(tmp_path):
    from retailops.favorita.errors import FavoritaInputError

    write_download(tmp_path / "download", omit=("train", "oil"))
    with pytest.raises(Exception) as caught:
        run_favorita(tmp_path / "download", tmp_path / "out")
    error = caught.value
    while error is not None and not isinstance(error, FavoritaInputError):
        error = error.__cause__ or error.__context__
    assert isinstance(error, FavoritaInputError)
    message = str(error)
    assert "\n" not in message
    assert "train.csv (missing)" in message and "oil" not in message
    # The availability table was still written, listing both missing files.
    availability = pd.read_parquet(tmp_path / "out" / "availability.parquet").set_index("table")
    assert availability.loc["train", "status"] == "missing" and availability.loc["oil", "status"] == "missing"


def test_kedro_run_without_train_exits_non_zero_with_the_reason(tmp_path):
    write_download(tmp_path / "download", omit=("train",))
    out = tmp_path / "out"
    params = f"favorita.data_dir={tmp_path / 'download'},favorita.out_dir={out},favorita.reports_dir={out}"
    done = kedro_favorita_cli(params)
    assert done.returncode != 0
    assert "cannot build the Favorita mart" in done.stderr and "train.csv (missing)" in done.stderr


# --- profiling ---------------------------------------------------------------------------------


def test_profile_matches_what_the_fixture_contains(clean_run):
    profile = clean_run.table("profile.parquet").set_index(["table", "column"])
    train = clean_run.written["train"]
    promo = profile.loc[("train", "onpromotion")]
    assert promo["null_frac"] == pytest.approx((train["onpromotion"] == "").mean())
    assert promo["n_distinct"] == 2
    stores = profile.loc[("train", "store_nbr")]
    assert stores["n_distinct"] == 4 and stores["min"] == "1" and stores["max"] == "4"
    assert json.loads(stores["most_common_freqs"]) == [0.25] * 4
    sales = profile.loc[("train", "unit_sales")]
    assert float(sales["min"]) == train["unit_sales"].min()
    assert float(sales["max"]) == train["unit_sales"].max()
    assert sales["n_distinct"] == train["unit_sales"].nunique()
    # The file is sorted by id and by date: physical order follows value order.
    assert profile.loc[("train", "id"), "correlation"] == pytest.approx(1.0)
    assert profile.loc[("train", "date"), "correlation"] > 0.99
    assert json.loads(profile.loc[("train", "id"), "most_common_vals"]) == []  # unique: no MCV
    family = profile.loc[("items", "family")]
    assert json.loads(family["most_common_vals"])[0] == "GROCERY I"
    assert json.loads(family["most_common_freqs"])[0] == pytest.approx(0.4)
    assert profile.loc[("oil", "dcoilwtico"), "null_frac"] == pytest.approx(
        2 / len(clean_run.written["oil"])
    )


# --- cleaning ----------------------------------------------------------------------------------


def test_returns_are_split_from_sales_not_dropped(clean_run):
    train = clean_run.table("clean/train.parquet")
    negatives = (clean_run.written["train"]["unit_sales"] < 0).sum()
    assert negatives > 0
    assert train["is_return"].sum() == negatives == clean_run.train_summary["return_rows"]
    assert (train["units_sold"] - train["units_returned"]).tolist() == pytest.approx(train["unit_sales"].tolist())
    assert (train["units_sold"] >= 0).all() and (train["units_returned"] >= 0).all()


def test_fractional_units_are_the_weighed_item(clean_run):
    train = clean_run.table("clean/train.parquet")
    assert set(train.loc[train["is_fractional_units"], "item_nbr"]) == {WEIGHED_ITEM}


def test_onpromotion_stays_unknown_before_recording_began(clean_run):
    train = clean_run.table("clean/train.parquet")
    before = pd.to_datetime(train["date"]) < pd.Timestamp("2014-04-01")
    assert train.loc[before, "onpromotion"].isna().all()
    assert not train.loc[before, "promotion_recorded"].any()
    assert train.loc[~before, "onpromotion"].notna().all()
    mart = clean_run.table("mart/daily_sales_store_family.parquet")
    assert mart.loc[mart["date"] < "2014-04-01", "promoted_lines"].isna().all()
    assert mart.loc[mart["date"] >= "2014-04-01", "promoted_lines"].notna().all()


def test_oil_gaps_on_weekends_and_holidays_are_filled(clean_run):
    oil = clean_run.table("clean/oil.parquet").set_index("date")
    assert oil.index.to_series().diff().dropna().eq(pd.Timedelta(days=1)).all()  # every day
    assert oil["oil_price"].notna().all()
    assert oil.loc["2013-01-01", "gap_reason"] == "holiday"  # listed empty on New Year
    assert oil.loc["2013-01-01", "oil_price"] == oil.loc["2013-01-02", "dcoilwtico"]  # first known
    assert oil.loc["2013-01-05", "gap_reason"] == "weekend"
    assert oil.loc["2013-01-06", "oil_price"] == oil.loc["2013-01-04", "dcoilwtico"]  # carried
    assert oil.loc["2013-01-09", "gap_reason"] == "missing_value"
    assert oil.loc["2013-01-07", "daily_change"] == pytest.approx(
        oil.loc["2013-01-07", "oil_price"] - oil.loc["2013-01-04", "oil_price"]
    )
    assert oil["trend"].notna().all()


def test_holidays_are_classified(clean_run):
    holidays = clean_run.table("clean/holidays_events.parquet").set_index(["date", "locale_name"])
    moved_away = holidays.loc[(pd.Timestamp("2013-10-09"), "Guayaquil")]
    assert moved_away["is_transferred_away"] and not moved_away["is_day_off"]
    moved_to = holidays.loc[(pd.Timestamp("2013-10-11"), "Guayaquil")]
    assert moved_to["is_transfer"] and moved_to["is_day_off"] and moved_to["scope"] == "local"
    assert moved_to["holiday_name"] == "Independencia de Guayaquil"
    bridge = holidays.loc[(pd.Timestamp("2014-12-26"), "Ecuador")]
    assert bridge["is_bridge"] and bridge["is_day_off"] and bridge["scope"] == "national"
    work_day = holidays.loc[(pd.Timestamp("2013-01-05"), "Ecuador")]
    assert work_day["is_work_day"] and not work_day["is_day_off"]
    assert holidays.loc[(pd.Timestamp("2013-12-24"), "Ecuador"), "is_additional"]
    assert holidays.loc[(pd.Timestamp("2014-04-01"), "Cotopaxi"), "scope"] == "regional"
    event = holidays.loc[(pd.Timestamp("2016-04-16"), "Ecuador")]
    assert event["is_event"] and not event["is_day_off"]


def test_day_features_on_each_store_day(clean_run):
    train = clean_run.table("clean/train.parquet")
    days = train.groupby([pd.to_datetime(train["date"]), "store_nbr"]).first()

    def flag(day: str, store: int, column: str) -> bool:
        return bool(days.loc[(pd.Timestamp(day), store), column])

    for payday in ("2013-01-15", "2013-01-31", "2014-03-31"):
        assert flag(payday, 1, "is_payday")
    assert not flag("2013-01-05", 1, "is_payday")
    assert flag("2016-04-16", 1, "is_earthquake_period") and flag("2016-05-13", 1, "is_earthquake_period")
    assert not flag("2016-05-14", 1, "is_earthquake_period")
    assert not flag("2014-03-31", 1, "is_earthquake_period")
    assert days.loc[(pd.Timestamp("2013-01-05"), 1), "day_of_week"] == 6  # a Saturday
    assert flag("2013-01-01", 2, "is_national_holiday") and flag("2013-01-01", 2, "is_holiday")
    # Guayaquil's holiday moved from the 9th to the 11th, and only store 3 is in Guayaquil.
    assert not flag("2013-10-09", 3, "is_holiday") and flag("2013-10-09", 3, "is_transferred_holiday")
    assert flag("2013-10-11", 3, "is_local_holiday") and not flag("2013-10-11", 1, "is_holiday")
    # Cotopaxi's provincial day: only store 4 (Latacunga, Cotopaxi).
    assert flag("2014-04-01", 4, "is_regional_holiday") and not flag("2014-04-01", 1, "is_holiday")
    assert flag("2014-12-26", 1, "is_bridge_day") and flag("2014-12-26", 1, "is_holiday")
    assert flag("2013-01-05", 1, "is_work_day") and not flag("2013-01-05", 1, "is_holiday")
    assert flag("2016-04-16", 1, "is_event") and not flag("2016-04-16", 1, "is_holiday")


# --- quality ------------------------------------------------------------------------------------


def test_clean_download_passes_every_check_but_the_known_oil_gaps(clean_run):
    quality = clean_run.table("quality.parquet")
    not_passed = quality[quality["status"] != "passed"]
    assert not_passed["check"].tolist() == ["oil.dcoilwtico_not_null"]
    assert not_passed["status"].tolist() == ["warned"] and not_passed["failing_rows"].tolist() == [2]


def test_broken_key_and_foreign_key_are_named(broken_run):
    quality = broken_run.table("quality.parquet").set_index("check")
    assert quality.loc["train.item_nbr_in_items", "status"] == "failed"
    assert quality.loc["train.item_nbr_in_items", "failing_rows"] == 1
    assert "999999" in quality.loc["train.item_nbr_in_items", "sample"]
    assert quality.loc["train.primary_key_unique", "status"] == "failed"
    assert quality.loc["train.primary_key_unique", "failing_rows"] == 1  # one repeated id
    assert quality.loc["train.date_store_item_unique", "status"] == "failed"
    assert quality.loc["train.store_nbr_in_stores", "status"] == "passed"
    html = broken_run.report_html
    assert "train.item_nbr_in_items" in html and "3 failed" in html


# --- mart and report ----------------------------------------------------------------------------


@pytest.mark.parametrize("run_name", ["clean_run", "broken_run"])
def test_mart_totals_equal_the_fixture_sums(run_name, request):
    run = request.getfixturevalue(run_name)
    mart = run.table("mart/daily_sales_store_family.parquet")
    expected = (
        _fixture_sales(run)
        .groupby(["date", "store_nbr", "family"], as_index=False)
        .agg(unit_sales=("unit_sales", "sum"), sales_lines=("unit_sales", "size"))
    )
    got = mart[["date", "store_nbr", "family", "unit_sales", "sales_lines"]].astype({"family": str})
    merged = expected.merge(got, on=["date", "store_nbr", "family"], how="outer", suffixes=("_fixture", "_mart"))
    assert len(merged) == len(expected) == len(mart)
    assert merged["unit_sales_mart"].tolist() == pytest.approx(merged["unit_sales_fixture"].tolist())
    assert (merged["sales_lines_mart"] == merged["sales_lines_fixture"]).all()
    assert mart["unit_sales"].sum() == pytest.approx(run.written["train"]["unit_sales"].sum())
    assert (mart["units_sold"] - mart["units_returned"]).sum() == pytest.approx(mart["unit_sales"].sum())


def test_mart_carries_store_traffic_and_oil(clean_run):
    mart = clean_run.table("mart/daily_sales_store_family.parquet")
    transactions = clean_run.written["transactions"].assign(date=lambda f: pd.to_datetime(f["date"]))
    joined = mart.merge(transactions, on=["date", "store_nbr"])
    assert len(joined) == len(mart)
    assert (joined["store_transactions"] == joined["transactions"]).all()
    assert mart["oil_price"].notna().all()
    assert set(mart["city"].astype(str)) == {"Quito", "Guayaquil", "Latacunga"}


def test_report_is_one_self_contained_file(clean_run):
    html = clean_run.report_html
    # No script is fetched from anywhere: plotly.js itself is inline (once, not per figure).
    assert not re.search(r"<script[^>]*\ssrc=", html)
    assert html.count("@license") >= 1 and html.count("plotly.js v") == 1
    assert "Net unit sales per day" in html and "earthquake period" in html
    assert "Column profiles" in html and "primary_key_unique" in html


def test_favorita_is_not_part_of_the_default_run():
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT)
    assert "favorita" in pipelines
    default_nodes = {node.name for node in pipelines["__default__"].nodes}
    assert not any(name.startswith("favorita") for name in default_nodes)


def test_transactions_are_checked_against_sales_days(tmp_path):

    written = write_download(tmp_path / "download")
    # Drop one store-day's count and add a count for a day without sales.
    transactions = written["transactions"].iloc[1:]
    extra = pd.DataFrame({"date": ["2013-01-02"], "store_nbr": [1], "transactions": [700]})
    pd.concat([transactions, extra]).to_csv(tmp_path / "download" / "transactions.csv", index=False)
    run_favorita(tmp_path / "download", tmp_path / "out")
    quality = pd.read_parquet(tmp_path / "out" / "quality.parquet").set_index("check")
    assert quality.loc["train.store_day_has_transactions", "status"] == "warned"
    assert quality.loc["train.store_day_has_transactions", "failing_rows"] == 1
    assert quality.loc["transactions.store_day_has_sales", "failing_rows"] == 1
    assert "2013-01-02" in quality.loc["transactions.store_day_has_sales", "sample"]
