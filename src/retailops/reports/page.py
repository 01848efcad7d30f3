"""The executive summary as one self-contained HTML page.

plotly.js is inlined once in the page's head and every chart reuses it, so the file opens from
disk or any web server with no network. Tiles and tables are plain HTML; charts are plotly.
"""

from __future__ import annotations

import html
import math
from typing import Any, Iterable

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from retailops.reports.summary import ExecutiveSummary, Kpi, kpi_tiles

REVENUE, PROFIT, ACCENT, WARN, BAD, MUTED = (
    "#2563eb", "#16a34a", "#7c3aed", "#d97706", "#dc2626", "#64748b")

_STYLE = """
*{box-sizing:border-box}
body{font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0;
  background:#f1f5f9;color:#0f172a}
header{background:#0f172a;color:#f8fafc;padding:1.4rem 2rem}
header h1{margin:0;font-size:1.6rem;font-weight:600}
header p{margin:.3rem 0 0;color:#cbd5e1;font-size:.95rem}
main{max-width:1280px;margin:0 auto;padding:1.2rem 2rem 3rem}
section{margin-top:1.6rem}
h2{font-size:1.15rem;margin:0 0 .6rem;color:#1e293b}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:.8rem}
.tile{background:#fff;border-radius:10px;padding:.9rem 1rem;box-shadow:0 1px 2px #0f172a14}
.tile .label{font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;color:#64748b}
.tile .value{font-size:1.7rem;font-weight:650;margin:.2rem 0}
.tile .change{font-size:.85rem}
.up{color:#15803d}.down{color:#b91c1c}.flat,.none{color:#64748b}
.ok{color:#15803d}.bad{color:#b91c1c;font-weight:600}.warn{color:#b45309}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:1rem}
.card{background:#fff;border-radius:10px;padding:.9rem 1rem;box-shadow:0 1px 2px #0f172a14;
  min-width:0}
.card h3{margin:0 0 .3rem;font-size:1rem;color:#1e293b}
.card p.note{margin:.1rem 0 .4rem;font-size:.82rem;color:#64748b}
.chart{width:100%;height:380px}
.empty{padding:2rem;text-align:center;color:#64748b;border:1px dashed #cbd5e1;border-radius:8px}
table{border-collapse:collapse;width:100%;font-size:.84rem}
th,td{padding:.35rem .5rem;border-bottom:1px solid #e2e8f0;text-align:left}
th{color:#475569;font-weight:600;background:#f8fafc}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
footer{color:#64748b;font-size:.8rem;margin-top:2rem}
"""

# No mode bar: the page is for reading; hovering still shows every figure.
_CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": False}


# ---------------------------------------------------------------------------------- formatting
def money(value: float, symbol: str = "$") -> str:
    """Compact currency: $1.23M, $45.6K, $789."""
    if value is None or pd.isna(value):
        return "n/a"
    sign = "-" if value < 0 else ""
    value = abs(float(value))
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= limit:
            return f"{sign}{symbol}{value / limit:,.2f}{suffix}"
    return f"{sign}{symbol}{value:,.0f}"


def percent(value: float | None, digits: int = 1) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    return f"{value * 100:.{digits}f}%"


def count(value: float | None) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    return f"{value:,.0f}"


def _day(value: Any) -> str:
    return pd.Timestamp(value).strftime("%d %b %Y")


def _span(first: Any, last: Any) -> str:
    return _day(first) if first == last else f"{_day(first)} – {_day(last)}"


# ---------------------------------------------------------------------------------- building blocks
def _figure_html(figure: go.Figure, chart_id: str) -> str:
    figure.update_layout(template="plotly_white", margin={"l": 10, "r": 10, "t": 30, "b": 10},
                         font={"family": "-apple-system, Segoe UI, Roboto, Arial, sans-serif",
                               "size": 12},
                         legend={"orientation": "h", "y": 1.1, "x": 0}, autosize=True)
    return figure.to_html(full_html=False, include_plotlyjs=False, div_id=chart_id,
                          config=_CONFIG, default_height="380px", default_width="100%")


def _card(title: str, body: str, note: str = "") -> str:
    note_html = f"<p class='note'>{html.escape(note)}</p>" if note else ""
    return f"<div class='card'><h3>{html.escape(title)}</h3>{note_html}{body}</div>"


def _chart_card(title: str, chart_id: str, figure: go.Figure | None, note: str = "",
                empty: str = "No data for this period.") -> str:
    body = (_figure_html(figure, chart_id) if figure is not None
            else f"<div class='empty' id='{chart_id}'>{html.escape(empty)}</div>")
    return _card(title, body, note)


def _tile(label: str, value: str, change_html: str = "") -> str:
    return (f"<div class='tile'><div class='label'>{html.escape(label)}</div>"
            f"<div class='value'>{html.escape(value)}</div>"
            f"<div class='change'>{change_html}</div></div>")


def _table(rows: Iterable[Iterable[str]], headers: list[tuple[str, bool]]) -> str:
    """Rows of already-escaped cells; headers as (title, is_numeric)."""
    head = "".join(f"<th class='{'num' if numeric else ''}'>{html.escape(title)}</th>"
                   for title, numeric in headers)
    body = []
    for row in rows:
        cells = "".join(f"<td class='{'num' if numeric else ''}'>{cell}</td>"
                        for cell, (_, numeric) in zip(row, headers))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


# ---------------------------------------------------------------------------------- sections
def _kpi_change(kpi: Kpi, previous_span: str) -> str:
    change = kpi.change
    if change is None:
        return f"<span class='none'>no sales in {html.escape(previous_span)}</span>"
    if kpi.change_kind == "points":
        text = f"{change * 100:+.1f} pts"
    else:
        text = f"{change * 100:+.1f}%"
    direction = "up" if change > 1e-12 else "down" if change < -1e-12 else "flat"
    arrow = {"up": "▲", "down": "▼", "flat": "■"}[direction]
    return (f"<span class='{direction}'>{arrow} {text}</span> "
            f"<span class='none'>vs {html.escape(previous_span)}</span>")


def _kpi_section(summary: ExecutiveSummary) -> str:
    symbol = summary.settings.currency_symbol
    window = summary.window
    previous_span = _span(window.previous_first, window.previous_last)
    tiles = []
    for kpi in kpi_tiles(summary.kpis):
        if kpi.name == "Margin":
            value = percent(kpi.current)
        elif kpi.name == "Units sold":
            value = count(kpi.current)
        else:
            value = money(kpi.current, symbol)
        tiles.append(_tile(kpi.name, value, _kpi_change(kpi, previous_span)))
    return (f"<section id='kpis'><h2>Last {window.period_days} days: "
            f"{html.escape(_span(window.first, window.last))}</h2>"
            f"<div class='tiles'>{''.join(tiles)}</div></section>")


def _trend_figure(summary: ExecutiveSummary) -> go.Figure | None:
    trend = summary.trend
    if trend.empty:
        return None
    symbol = summary.settings.currency_symbol
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=trend["sale_date"], y=trend["net_revenue"], name="Net revenue",
                                mode="lines+markers", line={"color": REVENUE, "width": 2.5},
                                hovertemplate=f"%{{x|%a %d %b}}<br>Net revenue {symbol}%{{y:,.0f}}"
                                              "<extra></extra>"))
    figure.add_trace(go.Scatter(x=trend["sale_date"], y=trend["profit"], name="Profit",
                                mode="lines+markers", line={"color": PROFIT, "width": 2.5},
                                hovertemplate=f"%{{x|%a %d %b}}<br>Profit {symbol}%{{y:,.0f}}"
                                              "<extra></extra>"))
    figure.add_vrect(x0=pd.Timestamp(summary.window.first) - pd.Timedelta(hours=12),
                     x1=pd.Timestamp(summary.window.last) + pd.Timedelta(hours=12),
                     fillcolor=ACCENT, opacity=0.06, line_width=0,
                     annotation_text="current period", annotation_position="top left")
    figure.update_yaxes(tickprefix=symbol, tickformat="~s", rangemode="tozero")
    figure.update_xaxes(tickformat="%d %b")
    return figure


def _category_figure(summary: ExecutiveSummary) -> go.Figure | None:
    categories = summary.categories
    if categories.empty:
        return None
    symbol = summary.settings.currency_symbol
    margins = [percent(m) for m in categories["margin"]]
    figure = go.Figure()
    figure.add_trace(go.Bar(x=categories["category"], y=categories["net_revenue"],
                            name="Net revenue", marker_color=REVENUE, customdata=margins,
                            hovertemplate=f"%{{x}}<br>Net revenue {symbol}%{{y:,.0f}}"
                                          "<br>Margin %{customdata}<extra></extra>"))
    figure.add_trace(go.Bar(x=categories["category"], y=categories["profit"], name="Profit",
                            marker_color=PROFIT, customdata=margins,
                            hovertemplate=f"%{{x}}<br>Profit {symbol}%{{y:,.0f}}"
                                          "<br>Margin %{customdata}<extra></extra>"))
    figure.update_layout(barmode="group")
    figure.update_yaxes(tickprefix=symbol, tickformat="~s")
    return figure


def _products_figure(summary: ExecutiveSummary) -> go.Figure | None:
    products = summary.products
    if products.empty:
        return None
    symbol = summary.settings.currency_symbol
    ordered = products.sort_values("revenue_rank", ascending=False)
    labels = [f"{name} ({pid})" if isinstance(name, str) else str(pid)
              for name, pid in zip(ordered["product_name"], ordered["product_id"])]
    figure = go.Figure(go.Bar(
        x=ordered["net_revenue"], y=labels, orientation="h", marker_color=REVENUE,
        customdata=list(zip(ordered["category"].fillna("unknown"), ordered["units"],
                            [percent(m) for m in ordered["margin"]])),
        hovertemplate=(f"%{{y}}<br>%{{customdata[0]}}<br>Net revenue {symbol}%{{x:,.0f}}"
                       "<br>Units %{customdata[1]:,}<br>Margin %{customdata[2]}<extra></extra>"),
        name="Net revenue"))
    figure.update_xaxes(tickprefix=symbol, tickformat="~s")
    figure.update_layout(showlegend=False)
    return figure


def _stores_figure(summary: ExecutiveSummary) -> tuple[go.Figure | None, str]:
    stores = summary.stores
    if stores.empty:
        return None, ""
    symbol = summary.settings.currency_symbol
    shown = stores.head(summary.settings.stores_shown)
    note = (f"All {len(stores)} stores, by net revenue." if len(stores) <= len(shown)
            else f"Top {len(shown)} of {len(stores)} stores by net revenue.")
    ordered = shown.iloc[::-1]
    labels = [f"#{rank} {name}" for rank, name in zip(ordered["revenue_rank"],
                                                     ordered["store_name"].fillna("unknown"))]
    figure = go.Figure(go.Bar(
        x=ordered["net_revenue"], y=labels, orientation="h",
        marker_color=[PROFIT if m >= stores["margin"].median() else WARN
                      for m in ordered["margin"].fillna(0)],
        customdata=list(zip(ordered["region"].fillna(""), ordered["store_type"].fillna(""),
                            [percent(m) for m in ordered["margin"]],
                            ordered["net_revenue_per_sqft"].fillna(0))),
        hovertemplate=(f"%{{y}}<br>%{{customdata[0]}} · %{{customdata[1]}}"
                       f"<br>Net revenue {symbol}%{{x:,.0f}}<br>Margin %{{customdata[2]}}"
                       f"<br>{symbol}%{{customdata[3]:.2f}} per sq ft<extra></extra>"),
        name="Net revenue"))
    figure.update_xaxes(tickprefix=symbol, tickformat="~s")
    figure.update_layout(showlegend=False)
    return figure, note + " Green: margin at or above the median store's; amber: below."


def _suppliers_figure(summary: ExecutiveSummary) -> go.Figure | None:
    suppliers = summary.suppliers
    if suppliers.empty:
        return None
    sizes = suppliers["shipments"].astype(float)
    figure = go.Figure(go.Scatter(
        x=suppliers["on_time_rate"], y=suppliers["fill_rate"], mode="markers",
        marker={"size": 8 + 22 * (sizes / max(sizes.max(), 1.0)) ** 0.5,
                "color": suppliers["avg_lead_time_days"], "colorscale": "Viridis",
                "showscale": True, "colorbar": {"title": {"text": "lead time (d)"}},
                "line": {"width": 1, "color": "#ffffff"}},
        text=suppliers["supplier_name"],
        customdata=list(zip(suppliers["country"].fillna(""), suppliers["shipments"],
                            suppliers["late_shipments"],
                            [percent(r) for r in suppliers["promised_on_time_rate"]])),
        hovertemplate=("%{text} (%{customdata[0]})<br>On time %{x:.1%} (promised "
                       "%{customdata[3]})<br>Fill rate %{y:.1%}<br>%{customdata[1]} shipments, "
                       "%{customdata[2]} late<extra></extra>"),
        name="Suppliers"))
    figure.update_xaxes(title_text="on-time rate", tickformat=".0%")
    figure.update_yaxes(title_text="fill rate", tickformat=".1%")
    figure.update_layout(showlegend=False)
    return figure


def _suppliers_table(summary: ExecutiveSummary) -> str:
    worst = summary.suppliers.head(summary.settings.suppliers_shown)
    rows = []
    for _, s in worst.iterrows():
        gap = s["on_time_gap"]
        gap_class = "bad" if not pd.isna(gap) and gap < -0.05 else "none"
        rows.append([
            html.escape(str(s["supplier_name"])), html.escape(str(s["country"])),
            count(s["shipments"]), count(s["late_shipments"]),
            f"{percent(s['on_time_rate'])} <span class='{gap_class}'>"
            f"({'n/a' if pd.isna(gap) else f'{gap * 100:+.0f} pts'})</span>",
            percent(s["fill_rate"]),
            f"{s['avg_lead_time_days']:.1f} / {count(s['promised_lead_time_days'])}"
            if not pd.isna(s["avg_lead_time_days"]) else "n/a",
        ])
    return _table(rows, [("Supplier", False), ("Country", False), ("Shipments", True),
                         ("Late", True), ("On time (vs promised)", True), ("Fill rate", True),
                         ("Lead time days (actual / promised)", True)])


def _inventory_section(summary: ExecutiveSummary) -> str:
    inventory = summary.inventory
    window = summary.window
    if inventory.empty:
        return ("<section id='inventory'><h2>Inventory health</h2>"
                + _chart_card("Stock-outs and days of cover", "chart-inventory", None,
                              empty="No inventory counts yet.") + "</section>")
    cells = int(inventory["cells_counted"].sum())
    stock_outs = int(inventory["stock_outs"].sum())
    below = int(inventory["below_reorder_point"].sum())
    units_sold = float(inventory["avg_daily_units_sold"].sum())
    cover = float(inventory["units_on_hand"].sum()) / units_sold if units_sold else math.nan
    tiles = "".join([
        _tile("Stock-out rate", percent(stock_outs / cells if cells else math.nan),
              f"<span class='none'>{count(stock_outs)} of {count(cells)} store × product "
              "cells at zero</span>"),
        _tile("Below reorder point", percent(below / cells if cells else math.nan),
              f"<span class='none'>{count(below)} cells</span>"),
        _tile("Days of cover", "n/a" if math.isnan(cover) else f"{cover:.1f} days",
              f"<span class='none'>on hand vs sales of the last {window.cover_days} days"
              "</span>"),
        _tile("Inventory at cost", money(inventory["inventory_value"].sum(),
                                         summary.settings.currency_symbol),
              "<span class='none'>latest counts</span>"),
    ])
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Stock-out rate", "Days of cover"),
                           horizontal_spacing=0.12)
    figure.add_trace(go.Bar(x=inventory["category"], y=inventory["stock_out_rate"],
                            marker_color=BAD, name="Stock-out rate",
                            customdata=list(zip(inventory["stock_outs"],
                                                inventory["cells_counted"])),
                            hovertemplate="%{x}<br>%{y:.1%} (%{customdata[0]} of "
                                          "%{customdata[1]} cells)<extra></extra>"),
                     row=1, col=1)
    figure.add_trace(go.Bar(x=inventory["category"], y=inventory["days_of_cover"],
                            marker_color=ACCENT, name="Days of cover",
                            customdata=list(zip(inventory["units_on_hand"],
                                                inventory["avg_daily_units_sold"])),
                            hovertemplate="%{x}<br>%{y:.1f} days<br>%{customdata[0]:,} units "
                                          "on hand, %{customdata[1]:.1f} sold a day"
                                          "<extra></extra>"),
                     row=1, col=2)
    figure.update_yaxes(tickformat=".1%", rangemode="tozero", row=1, col=1)
    figure.update_yaxes(ticksuffix=" d", rangemode="tozero", row=1, col=2)
    figure.update_layout(showlegend=False)
    note = ("From each store × product cell's latest cycle count in "
            f"{_span(window.counts_first, window.last)}; days of cover compares those units "
            "with the same cells' "
            f"average daily sales over the last {window.cover_days} days.")
    return (f"<section id='inventory'><h2>Inventory health</h2><div class='tiles'>{tiles}</div>"
            f"<div style='margin-top:1rem'>"
            f"{_chart_card('Stock-outs and days of cover by category', 'chart-inventory', figure, note)}"
            "</div></section>")


def _quality_section(summary: ExecutiveSummary) -> str:
    report = summary.run_report or {}
    checks = report.get("checks") or []
    dbt_summary = report.get("dbt") or {}
    window = report.get("window") or {}
    passed = sum(1 for c in checks if c.get("ok"))
    failed_tests = list(dbt_summary.get("failed_tests") or [])
    tests_passed = int(dbt_summary.get("tests_passed") or 0)
    tests_total = tests_passed + len(failed_tests) + int(dbt_summary.get("tests_warned") or 0)
    ok = bool(report.get("ok"))
    defects = summary.defects
    total_defects = int(defects["defects"].sum()) if not defects.empty else 0
    run_span = (_span(window["first"], window["last"]) if window.get("first") and window.get("last")
                else "unknown window")
    tiles = "".join([
        _tile("Last validation", "passed" if ok else "FAILED",
              f"<span class='none'>{html.escape(run_span)}, run at "
              f"{html.escape(str(report.get('generated_at', ''))[:16].replace('T', ' '))}"
              "</span>"),
        _tile("Reconciliation checks", f"{passed} / {len(checks)}",
              "<span class='ok'>all reconciled</span>" if passed == len(checks)
              else f"<span class='bad'>{len(checks) - passed} failed</span>"),
        _tile("dbt data tests", f"{tests_passed} / {tests_total}",
              f"<span class='none'>{count(dbt_summary.get('models_built'))} models built</span>"
              if not failed_tests else f"<span class='bad'>{len(failed_tests)} failed</span>"),
        _tile("Defects caught", count(total_defects),
              "<span class='none'>recorded in the defect ledger</span>"),
    ])
    figure = None
    if not defects.empty:
        labels = [f"{t.replace('_', ' ')}" for t in defects["defect_type"]]
        figure = go.Figure(go.Bar(
            x=defects["defects"], y=labels, orientation="h", marker_color=WARN,
            customdata=defects["table_name"],
            hovertemplate="%{y}<br>%{x:,} rows in %{customdata}<extra></extra>",
            name="Defects"))
        figure.update_yaxes(autorange="reversed")
        figure.update_layout(showlegend=False)
    ordered = sorted(checks, key=lambda c: bool(c.get("ok")))
    check_rows = [[
        "<span class='ok'>✔</span>" if c.get("ok") else "<span class='bad'>✘</span>",
        html.escape(str(c.get("name", ""))),
        html.escape(f"{c.get('expected', float('nan')):,.0f}")
        if isinstance(c.get("expected"), (int, float)) else "",
        html.escape(f"{c.get('actual', float('nan')):,.0f}")
        if isinstance(c.get("actual"), (int, float)) else "",
    ] for c in ordered]
    checks_table = _table(check_rows, [("", False), ("Check", False), ("Expected", True),
                                       ("Actual", True)])
    failed_html = ""
    if failed_tests:
        failed_html = ("<p class='bad'>Failed dbt tests: "
                       + html.escape(", ".join(failed_tests)) + "</p>")
    return (
        "<section id='data-quality'><h2>Data quality of the last run</h2>"
        f"<div class='tiles'>{tiles}</div><div class='grid2' style='margin-top:1rem'>"
        + _chart_card("Defects by type", "chart-defects", figure,
                      f"Ledger rows for {run_span} (fact tables) and the current dimension "
                      "files; each is flagged or repaired by staging.",
                      empty="No defects recorded for this run.")
        + _card("Reconciliation checks", failed_html + checks_table,
                "Raw → staging → marts, and the defect ledger against what staging caught.")
        + "</div></section>")


def _forecast_figure(summary: ExecutiveSummary) -> go.Figure:
    forecast = summary.forecast
    assert forecast is not None
    chain = forecast.chain
    recent = summary.trend.tail(28)
    figure = go.Figure()
    # The band first, filled between p10 and p90 (the second trace fills to the first).
    figure.add_trace(go.Scatter(x=chain["target_date"], y=chain["units_p10"], mode="lines",
                                line={"width": 0}, showlegend=False, hoverinfo="skip"))
    figure.add_trace(go.Scatter(x=chain["target_date"], y=chain["units_p90"], mode="lines",
                                line={"width": 0}, fill="tonexty", fillcolor="rgba(124,58,237,.18)",
                                name="80% band (p10–p90)"))
    figure.add_trace(go.Scatter(x=recent["sale_date"], y=recent["units"], mode="lines+markers",
                                name="units sold", line={"color": REVENUE}))
    figure.add_trace(go.Scatter(x=chain["target_date"], y=chain["units"], mode="lines+markers",
                                name=f"forecast ({forecast.model})",
                                line={"color": ACCENT, "dash": "dash"}))
    figure.update_yaxes(title_text="units per day", rangemode="tozero")
    return figure


def _accuracy_table(summary: ExecutiveSummary) -> str:
    forecast = summary.forecast
    assert forecast is not None
    rows = forecast.accuracy
    if rows.empty:
        return "<div class='empty' id='forecast-accuracy'>No backtest has been scored yet.</div>"
    cells = [[html.escape(str(r["against"]).replace("_", " ")),
              html.escape(str(r["level"]).replace("_", " × ")), html.escape(str(r["model"])),
              percent(r["wape"]), percent(r["oracle_wape"]),
              f"{r['wape_ratio_to_oracle']:.2f}×" if pd.notna(r["wape_ratio_to_oracle"]) else "–",
              percent(r["bias"]), count(r["origins"])]
             for _, r in rows.iterrows()]
    return "<div id='forecast-accuracy'>" + _table(cells, [
        ("Against", False), ("Level", False), ("Model", False), ("WAPE", True),
        ("Oracle WAPE", True), ("× oracle", True), ("Bias", True), ("Origins", True)]) + "</div>"


def _forecast_section(summary: ExecutiveSummary) -> str:
    forecast = summary.forecast
    if forecast is None:
        return ""
    if not forecast.has_forecast:
        return ("<section id='forecast'><h2>Demand forecast</h2>"
                "<div class='card'><div class='empty' id='forecast-none'>No forecast yet: the "
                "daily run's forecast stage writes one once the lake holds enough history "
                "(see its log line).</div></div></section>")
    chain = forecast.chain
    week, fortnight = float(chain["units"].head(7).sum()), float(chain["units"].sum())
    sold = summary.trend.tail(len(chain))
    tiles = "".join([
        _tile("Forecast, next 7 days", count(week) + " units"),
        _tile(f"Forecast, next {len(chain)} days", count(fortnight) + " units"),
        _tile(f"Sold, last {len(sold)} days", count(float(sold["units"].sum())) + " units"),
        _tile("Model", str(forecast.model)),
    ])
    first, last = chain["target_date"].iloc[0], chain["target_date"].iloc[-1]
    scored = (f"Latest backtest ({_day(forecast.backtest_date)}): WAPE per model and level, "
              "against observed sales and against the simulation's true demand; the oracle "
              "(the true expected demand used as a forecast) is the floor, × oracle the "
              "distance to it." if forecast.backtest_date else "")
    return ("<section id='forecast'><h2>Demand forecast</h2>"
            f"<div class='tiles'>{tiles}</div><div class='grid2' style='margin-top:1rem'>"
            + _chart_card("Chain units: last 4 weeks sold, next 14 days forecast",
                          "chart-forecast", _forecast_figure(summary),
                          f"Forecast made {_day(forecast.forecast_date)} for {_span(first, last)}"
                          "; shaded: the 80% interval computed at chain level.")
            + _card("Forecast accuracy vs the oracle", _accuracy_table(summary), scored)
            + "</div></section>")


def render_executive_summary(summary: ExecutiveSummary) -> str:
    """The whole page as one HTML document (plotly.js inlined once, no external resources)."""
    window = summary.window
    stores_figure, stores_note = _stores_figure(summary)
    symbol = summary.settings.currency_symbol
    period = _span(window.first, window.last)
    generated = summary.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    body = [
        "<header><h1>RetailOps executive summary</h1>",
        f"<p>Sales through {html.escape(_day(window.last))} · current period "
        f"{html.escape(period)} · data since {html.escape(_day(summary.data_first_day))} · "
        f"generated {html.escape(generated)} from the {html.escape(summary.engine)} warehouse</p>"
        "</header><main>",
        _kpi_section(summary),
        "<section id='trend'>",
        _chart_card("Revenue and profit trend", "chart-trend", _trend_figure(summary),
                    f"Daily net revenue and profit, last {summary.settings.trend_days} days "
                    "(shaded: current period)."),
        "</section><section id='sales'><div class='grid2'>",
        _chart_card("Revenue and profit by category", "chart-categories",
                    _category_figure(summary), f"{period}; hover for margin."),
        _chart_card(f"Top {summary.settings.top_products} products", "chart-products",
                    _products_figure(summary), f"By net revenue, {period}."),
        "</div></section><section id='stores'><div class='grid2'>",
        _chart_card("Store rankings", "chart-stores", stores_figure, stores_note),
        _chart_card("Supplier scorecard", "chart-suppliers", _suppliers_figure(summary),
                    "Each supplier's on-time and fill rate over all deliveries; bubble size: "
                    "shipments; colour: average lead time.",
                    empty="No deliveries received yet."),
        "</div>",
        "<div style='margin-top:1rem'>",
        _card(f"Suppliers with the lowest on-time rate (worst {summary.settings.suppliers_shown})",
              _suppliers_table(summary) if not summary.suppliers.empty
              else "<div class='empty'>No deliveries received yet.</div>"),
        "</div></section>",
        _forecast_section(summary),
        _inventory_section(summary),
        _quality_section(summary),
        f"<footer>Amounts in {html.escape(symbol)}, net of discounts; profit = net revenue − "
        "cost at unit cost. Built by the RetailOps <code>report</code> pipeline from the marts "
        "fct_daily_sales, fct_inventory_snapshots, dim_products, dim_stores, "
        "mart_supplier_performance and the defect ledger.</footer>",
        "</main>",
    ]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>RetailOps executive summary</title>"
            f"<style>{_STYLE}</style>"
            f"<script type='text/javascript'>{get_plotlyjs()}</script>"
            "</head><body>" + "".join(body) + "</body></html>")
