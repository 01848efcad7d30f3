"""The report's queries against the marts of a real run, each checked by an independent pandas
computation over the same marts (dbt's own tests reconcile the marts with the raw files)."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pandas as pd
import pytest

from retailops.errors import RetailOpsError
from retailops.reports import (
    REPORT_QUERIES,
    NoSalesError,
    ReportWindow,
    SummarySettings,
    collect_summary,
    kpi_tiles,
)
from retailops.reports import queries
from tests.dbt.athena_sql_check import athena_problems
from tests.platform_fixture import LAST_DAY, PERIOD_DAYS


@pytest.fixture(scope="module")
def window(warehouse) -> ReportWindow:
    first, last = queries.sales_date_range(warehouse)
    return ReportWindow.ending(last, PERIOD_DAYS, 90, 14, first)


def _in(frame: pd.DataFrame, column: str, first: date, last: date) -> pd.DataFrame:
    return frame[(frame[column] >= first) & (frame[column] <= last)]


def test_the_period_ends_on_the_last_day_with_sales(window, marts):
    assert window.last == date.fromisoformat(LAST_DAY) == max(marts["fct_daily_sales"].sale_date)
    assert window.period_days == PERIOD_DAYS
    assert window.previous_last == window.first - timedelta(days=1)
    assert (window.previous_last - window.previous_first).days + 1 == PERIOD_DAYS


def test_kpis_are_the_period_totals_of_fct_daily_sales(warehouse, window, marts):
    kpis = queries.period_kpis(warehouse, window).set_index("period")
    sales = marts["fct_daily_sales"]
    for period, (first, last) in {"current": (window.first, window.last),
                                  "previous": (window.previous_first,
                                               window.previous_last)}.items():
        rows = _in(sales, "sale_date", first, last)
        assert len(rows) > 0, f"the fixture week should have sales in the {period} period"
        assert kpis.loc[period, "net_revenue"] == pytest.approx(rows.net_revenue.sum())
        assert kpis.loc[period, "profit"] == pytest.approx(rows.profit.sum())
        assert kpis.loc[period, "units"] == rows.quantity.sum()
        assert kpis.loc[period, "transactions"] == rows.transactions.sum()
        assert kpis.loc[period, "margin"] == pytest.approx(rows.profit.sum()
                                                           / rows.net_revenue.sum())
        assert kpis.loc[period, "days_with_sales"] == rows.sale_date.nunique()


def test_kpi_tiles_compare_with_the_previous_period(warehouse, window, marts):
    tiles = {t.name: t for t in kpi_tiles(queries.period_kpis(warehouse, window))}
    sales = marts["fct_daily_sales"]
    now = _in(sales, "sale_date", window.first, window.last)
    before = _in(sales, "sale_date", window.previous_first, window.previous_last)
    assert tiles["Net revenue"].change == pytest.approx(
        now.net_revenue.sum() / before.net_revenue.sum() - 1)
    assert tiles["Units sold"].change == pytest.approx(now.quantity.sum() / before.quantity.sum()
                                                       - 1)
    # Margin moves in percentage points, not as a ratio of ratios.
    assert tiles["Margin"].change == pytest.approx(
        now.profit.sum() / now.net_revenue.sum() - before.profit.sum() / before.net_revenue.sum())


def test_a_period_without_earlier_sales_has_no_change(warehouse, marts):
    first_day = min(marts["fct_daily_sales"].sale_date)
    window = ReportWindow.ending(first_day + timedelta(days=1), 2, 90, 14, first_day)
    tiles = kpi_tiles(queries.period_kpis(warehouse, window))
    assert all(t.change is None for t in tiles)
    assert tiles[0].current > 0


def test_daily_trend_has_one_row_per_day_with_the_day_totals(warehouse, window, marts):
    trend = queries.daily_trend(warehouse, window)
    expected = marts["fct_daily_sales"].groupby("sale_date").net_revenue.sum()
    assert [d.date() for d in pd.to_datetime(trend.sale_date)] == list(expected.index)
    assert trend.net_revenue.tolist() == pytest.approx(expected.tolist())


def test_categories_add_up_to_the_period_revenue(warehouse, window, marts):
    categories = queries.revenue_and_profit_by_category(warehouse, window)
    now = _in(marts["fct_daily_sales"], "sale_date", window.first, window.last)
    joined = now.merge(marts["dim_products"][["product_id", "category"]], on="product_id")
    expected = joined.groupby("category")[["net_revenue", "profit"]].sum()
    result = categories.set_index("category")
    assert set(result.index) == set(expected.index)
    assert result.net_revenue.sum() == pytest.approx(now.net_revenue.sum())
    for category, row in expected.iterrows():
        assert result.loc[category, "net_revenue"] == pytest.approx(row.net_revenue)
        assert result.loc[category, "profit"] == pytest.approx(row.profit)
    assert result.revenue_share.sum() == pytest.approx(1.0)
    assert categories.net_revenue.is_monotonic_decreasing


def test_top_products_are_the_highest_revenue_products(warehouse, window, marts):
    top = queries.top_products(warehouse, window, limit=10)
    now = _in(marts["fct_daily_sales"], "sale_date", window.first, window.last)
    by_product = now.groupby("product_id").net_revenue.sum().sort_values(ascending=False)
    assert len(top) == 10
    assert top.revenue_rank.tolist() == list(range(1, 11))
    assert top.net_revenue.tolist() == pytest.approx(by_product.head(10).tolist())
    # Names come from dim_products.
    names = marts["dim_products"].set_index("product_id").product_name
    assert top.product_name.tolist() == [names[p] for p in top.product_id]


def test_store_rankings_cover_every_store_with_sales(warehouse, window, marts):
    stores = queries.store_rankings(warehouse, window)
    now = _in(marts["fct_daily_sales"], "sale_date", window.first, window.last)
    expected = now.groupby("store_id").net_revenue.sum()
    assert sorted(stores.store_id) == sorted(expected.index)
    assert stores.revenue_rank.iloc[0] == 1
    assert stores.net_revenue.is_monotonic_decreasing
    assert stores.set_index("store_id").net_revenue.to_dict() == pytest.approx(expected.to_dict())
    size = marts["dim_stores"].set_index("store_id").size_sqft
    first = stores.iloc[0]
    assert first.net_revenue_per_sqft == pytest.approx(first.net_revenue / size[first.store_id])


def test_supplier_scorecard_is_the_mart_worst_on_time_first(warehouse, marts):
    scorecard = queries.supplier_scorecard(warehouse)
    mart = marts["mart_supplier_performance"]
    delivering = mart[mart.shipments > 0]
    assert sorted(scorecard.supplier_id) == sorted(delivering.supplier_id)
    assert scorecard.on_time_rate.is_monotonic_increasing
    row = scorecard.iloc[0]
    source = delivering.set_index("supplier_id").loc[row.supplier_id]
    assert row.on_time_gap == pytest.approx(source.on_time_rate - source.promised_on_time_rate)
    assert row.fill_rate == pytest.approx(source.fill_rate)


def test_inventory_health_uses_each_cells_latest_count(warehouse, window, marts):
    health = queries.inventory_health(warehouse, window).set_index("category")
    counts = _in(marts["fct_inventory_snapshots"], "snapshot_date", window.counts_first,
                 window.last)
    latest = (counts.sort_values("snapshot_date")
              .groupby(["store_id", "product_id"], as_index=False).tail(1))
    latest = latest.merge(marts["dim_products"][["product_id", "category"]], on="product_id")
    recent = _in(marts["fct_daily_sales"], "sale_date", window.cover_first, window.last)
    sold = recent.groupby(["store_id", "product_id"], as_index=False).quantity.sum()
    cells = latest.merge(sold, on=["store_id", "product_id"], how="left").fillna({"quantity": 0})
    assert health.cells_counted.sum() == len(latest)
    assert health.stock_outs.sum() == latest.is_stock_out.sum()
    for category, group in cells.groupby("category"):
        daily = group.quantity.sum() / window.cover_days
        assert health.loc[category, "stock_out_rate"] == pytest.approx(group.is_stock_out.mean())
        assert health.loc[category, "units_on_hand"] == group.quantity_on_hand.fillna(0).sum()
        if daily:
            assert health.loc[category, "days_of_cover"] == pytest.approx(
                group.quantity_on_hand.fillna(0).sum() / daily)
        else:
            assert math.isnan(health.loc[category, "days_of_cover"])


def test_stale_counts_are_left_out(warehouse, marts):
    counts = marts["fct_inventory_snapshots"]
    last = max(counts.snapshot_date)
    window = ReportWindow.ending(last, 3, 90, 14, min(counts.snapshot_date),
                                 count_lookback_days=2)
    health = queries.inventory_health(warehouse, window)
    recent = counts[counts.snapshot_date >= last - timedelta(days=1)]
    assert health.cells_counted.sum() == recent.groupby(["store_id", "product_id"]).ngroups
    assert health.cells_counted.sum() < counts.groupby(["store_id", "product_id"]).ngroups


def test_days_of_cover_count_only_days_the_marts_hold(window, marts):
    # The fixture holds a week; a 14-day lookback must not halve the daily sales rate.
    assert window.cover_first == min(marts["fct_daily_sales"].sale_date)
    assert window.cover_days == marts["fct_daily_sales"].sale_date.nunique()


def test_defect_counts_match_the_ledger(warehouse, run_report, marts):
    first = date.fromisoformat(run_report["window"]["first"])
    last = date.fromisoformat(run_report["window"]["last"])
    counts = queries.defect_counts(warehouse, first, last)
    ledger = marts["stg_defects"]
    assert counts.defects.sum() == len(ledger) > 0
    expected = ledger.groupby("defect_type").size().to_dict()
    assert counts.groupby("defect_type").defects.sum().to_dict() == expected


def test_every_report_query_is_portable_sql(warehouse, window):
    """Each query runs on DuckDB here and parses as Athena/Trino SQL with no DuckDB-only syntax
    (syntax only: no Athena runs these queries offline)."""

    class Recording:
        engine = "duckdb"

        def __init__(self):
            self.statements: list[str] = []

        def table(self, layer, name):
            return warehouse.table(layer, name)

        def query(self, sql):
            self.statements.append(sql)
            return warehouse.query(sql)

    recording = Recording()
    for name, query in REPORT_QUERIES.items():
        result = query(recording, window)
        assert len(result) > 0, f"{name} returned no rows on the fixture"
    queries.sales_date_range(recording)
    assert len(recording.statements) == len(REPORT_QUERIES) + 1
    problems = {sql.strip()[:60]: athena_problems(sql) for sql in recording.statements}
    assert not {k: v for k, v in problems.items() if v}


def test_no_sales_is_a_one_line_user_error(tmp_path):
    import duckdb

    from retailops.warehouse.engines import DuckDBWarehouse

    path = tmp_path / "empty.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.fct_daily_sales (sale_date date, net_revenue double)")
    with pytest.raises(NoSalesError, match="holds no sales") as caught:
        collect_summary(DuckDBWarehouse(str(path)), {}, SummarySettings())
    assert isinstance(caught.value, RetailOpsError)
    assert "\n" not in str(caught.value)


def test_report_settings_reject_unknown_keys_and_empty_periods():
    with pytest.raises(ValueError, match="period_dayz"):
        SummarySettings.from_params({"period_dayz": 7})
    with pytest.raises(ValueError, match="period_days"):
        SummarySettings.from_params({"period_days": 0})
    assert SummarySettings.from_params({"period_days": 3}).period_days == 3


def test_a_report_session_answers_like_single_queries_and_lets_go_of_the_file(warehouse, window,
                                                                             tmp_path):
    """collect_summary runs every query through one read-only DuckDB connection: the answers
    are those of one connection per query, and once the batch is over the file can be opened
    for writing again in this process (as dbt does on the next run)."""
    import shutil

    import duckdb

    from retailops.warehouse.engines import DuckDBWarehouse

    with warehouse.session() as connected:
        with connected.session() as nested:
            assert nested is connected  # a batch inside a batch shares the connection
        for name, query in REPORT_QUERIES.items():
            pd.testing.assert_frame_equal(query(connected, window), query(warehouse, window),
                                          obj=name)
    copy = tmp_path / "copy.duckdb"
    shutil.copy(warehouse.path, copy)
    collect_summary(DuckDBWarehouse(str(copy)), {}, SummarySettings())
    with duckdb.connect(str(copy)) as writer:  # fails if the session left the file open
        writer.execute("create table marts.written_after_the_report as select 1 as one")
