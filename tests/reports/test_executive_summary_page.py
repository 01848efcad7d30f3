"""The executive summary the default ``kedro run`` writes: one self-contained page that renders
every chart with data in a real (headless) Chromium, with no console errors and no network."""

from __future__ import annotations

import re

import pytest

from retailops.reports import SummarySettings, collect_summary, kpi_tiles
from retailops.reports.page import money
from tests.conftest import PROJECT_ROOT
from tests.reports.chromium import Browser

SCREENSHOT = PROJECT_ROOT / "test-artifacts" / "executive_summary.png"
CHARTS = ["chart-trend", "chart-categories", "chart-products", "chart-stores", "chart-suppliers",
          "chart-inventory", "chart-defects"]

# For each plotly chart: its id, whether its SVG was drawn, and per trace the number of points
# plotly.js computed (_fullData) and the data marks (bars, markers, line paths) it drew.
_RENDERED_CHARTS = """
(() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(plot => ({
    id: plot.id,
    svg: plot.querySelector('.main-svg') !== null,
    points: (plot._fullData || []).map(trace => trace._length || 0),
    marks: plot.querySelectorAll(
        '.barlayer .point path, .scatterlayer .point, .scatterlayer .js-line').length,
})))()
"""


@pytest.fixture(scope="module")
def page(platform) -> str:
    return platform.report.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def rendered(platform):
    """The page opened from disk in headless Chromium, charts drawn, screenshot taken."""
    with Browser(width=1366, height=900) as browser:
        browser.open(platform.report.as_uri())
        charts = browser.wait_for(
            f"(() => {{ const c = {_RENDERED_CHARTS}; "
            f"return c.length >= {len(CHARTS)} && c.every(x => x.svg) ? c : null; }})()",
            timeout=60)
        browser.pump(1.0)  # late console output, if any
        browser.screenshot(SCREENSHOT)
        text = browser.evaluate("document.body.innerText")
        yield {"charts": charts, "errors": list(browser.console_errors),
               "requests": list(browser.requests), "text": text}


def test_the_default_run_ends_with_the_executive_summary(platform):
    log = platform.run.stderr + platform.run.stdout
    order = [log.find(f"Running node: {name}") for name in
             ("dbt_build", "reconcile_run", "summarise_marts", "render_executive_summary")]
    assert all(i >= 0 for i in order) and order == sorted(order), order
    assert platform.report.is_file() and platform.report.stat().st_size > 1_000_000


def test_the_page_inlines_plotly_once_and_references_nothing_outside(page):
    from plotly.offline import get_plotlyjs

    bundle = get_plotlyjs()
    assert page.count(bundle) == 1, "plotly.js should be inlined exactly once"
    # Outside the bundle (which names a CDN for geo maps this page never draws): no URL at all.
    own_markup = page.replace(bundle, "")
    assert re.findall(r"https?://|//cdn", own_markup) == []
    assert re.findall(r"<(?:script|link|img|iframe)[^>]+(?:src|href)=", own_markup, re.I) == []


def test_every_chart_renders_with_data(rendered):
    charts = {c["id"]: c for c in rendered["charts"]}
    assert sorted(charts) == sorted(CHARTS)
    for chart_id, chart in charts.items():
        assert chart["svg"], f"{chart_id} drew no SVG"
        assert chart["points"] and all(n > 0 for n in chart["points"]), (chart_id, chart)
        assert chart["marks"] > 0, f"{chart_id} drew no bars, markers or lines"


def test_the_page_opens_without_console_errors_or_network(rendered, platform):
    assert rendered["errors"] == []
    # The only request is the page itself: no CDN, fonts or images fetched.
    assert rendered["requests"] == [platform.report.as_uri()]
    assert SCREENSHOT.is_file() and SCREENSHOT.stat().st_size > 50_000


def test_the_tiles_show_the_period_figures(rendered, platform, warehouse, run_report):
    settings = SummarySettings.from_params({"period_days": 3})
    summary = collect_summary(warehouse, run_report, settings)
    text = rendered["text"]
    net_revenue = next(t for t in kpi_tiles(summary.kpis) if t.name == "Net revenue")
    assert money(net_revenue.current) in text
    assert f"{net_revenue.change * 100:+.1f}%" in text
    assert "Last 3 days" in text
    checks = run_report["checks"]
    assert f"{sum(c['ok'] for c in checks)} / {len(checks)}" in text
    assert f"{run_report['dbt']['tests_passed']} / " in text


def test_the_data_quality_section_names_every_defect_type(rendered, marts):
    text = rendered["text"].lower()
    for defect_type in marts["stg_defects"].defect_type.unique():
        assert defect_type.replace("_", " ") in text


def test_the_report_alone_rewrites_the_page_from_the_warehouse(platform):
    """`kedro run --pipelines report` needs only the warehouse and the last run report.

    Last in this module: it rewrites the session's page (the other tests read it before)."""
    from tests.conftest import run_kedro

    conf = platform.conf
    before = platform.report.stat().st_mtime_ns
    result = run_kedro("run", "--conf-source", str(conf), "--pipelines", "report",
                       "--params", "report.top_products=5")
    assert result.returncode == 0, result.stderr[-3000:]
    assert platform.report.stat().st_mtime_ns > before
    assert "Top 5 products" in platform.report.read_text(encoding="utf-8")
