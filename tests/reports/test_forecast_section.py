"""The executive summary's forecast section: "no forecast yet" on a lake without one (the
default run), and on a published forecast the chain's next 14 days with the 80% band and the
backtest's distance to the oracle, drawn in headless Chromium."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import duckdb
import pytest

from retailops.reports import SummarySettings, collect_summary
from retailops.reports.page import count, render_executive_summary
from retailops.warehouse.serving import ServingWarehouse, publish_serving
from tests.forecast_fixture import write_accuracy, write_forecast
from tests.reports.chromium import Browser
from tests.reports.test_executive_summary_page import _RENDERED_CHARTS

FORECAST_MARTS = ["fct_demand_forecast", "fct_demand_forecast_levels", "forecast_accuracy"]


def test_without_a_forecast_the_section_says_so(platform):
    page = platform.report.read_text(encoding="utf-8")
    assert "id='forecast-none'" in page and "No forecast yet" in page
    assert "chart-forecast" not in page


@pytest.fixture(scope="module")
def published(platform, tmp_path_factory):
    """The platform's marts and a forecast made on its last day, published to a serving file."""
    root = tmp_path_factory.mktemp("forecast_report")
    lake = root / "lake"
    shutil.copytree(platform.lake / "curated", lake / "curated")
    warehouse = root / "retailops.duckdb"
    shutil.copy(platform.warehouse, warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        category = dict(con.execute("select product_id, category from marts.dim_products")
                        .fetchall())
        cells = con.execute("select store_id, product_id from marts.fct_daily_sales "
                            "group by 1, 2 order by 1, 2 limit 8").fetchall()
        (last,) = con.execute("select max(sale_date) from marts.fct_daily_sales").fetchall()[0]
    bottom = write_forecast(lake, last, cells, category, level_models=["lightgbm"])
    write_accuracy(lake, last)
    serving = root / "serving.duckdb"
    publish_serving(warehouse, serving, lake, curated_tables=FORECAST_MARTS)
    return serving, last, [r for r in bottom if r["model"] == "lightgbm"]


def test_the_summary_carries_the_latest_chain_forecast_and_the_backtest(published, run_report):
    serving, last, bottom = published
    summary = collect_summary(ServingWarehouse(path=str(serving)), run_report, SummarySettings())
    forecast = summary.forecast
    assert forecast.forecast_date == last and forecast.model == "lightgbm"
    days = [last + timedelta(days=n) for n in range(1, 15)]
    assert [d.date() for d in forecast.chain["target_date"]] == days
    expected = [sum(r["units"] for r in bottom if r["target_date"] == d) for d in days]
    assert forecast.chain["units"].round(6).tolist() == [round(u, 6) for u in expected]
    assert forecast.backtest_date == last
    # True demand first (the oracle's floor), finest level first, best ratio first.
    assert forecast.accuracy[["against", "level", "model"]].values.tolist()[:3] == [
        ["true_demand", "store_product", "oracle"], ["true_demand", "store_product", "lightgbm"],
        ["true_demand", "store_product", "seasonal_naive"]]


def test_the_forecast_section_draws_the_band_and_the_oracle_table(published, run_report,
                                                                   tmp_path):
    serving, last, bottom = published
    summary = collect_summary(ServingWarehouse(path=str(serving)), run_report, SummarySettings())
    page = tmp_path / "summary.html"
    page.write_text(render_executive_summary(summary), encoding="utf-8")
    with Browser(width=1366, height=900) as browser:
        browser.open(page.as_uri())
        charts = browser.wait_for(
            f"(() => {{ const c = {_RENDERED_CHARTS}.filter(x => x.id === 'chart-forecast'); "
            "return c.length === 1 && c[0].svg ? c : null; })()", timeout=60)
        text = browser.evaluate("document.getElementById('forecast').innerText")
        errors = list(browser.console_errors)
    assert errors == []
    # band low, band high, units sold, forecast: every trace has its points.
    assert charts[0]["points"] == [14, 14, len(summary.trend.tail(28)), 14]
    week = sum(r["units"] for r in bottom if r["target_date"] <= last + timedelta(days=7))
    assert f"{count(week)} units" in text
    assert "Forecast made " in text and "lightgbm" in text
    assert "1.08×" in text and "1.34×" in text and "2.35×" in text
    assert "No forecast yet" not in text
