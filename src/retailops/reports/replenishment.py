"""The replenishment study's section of the report: the built-in periodic review against the
forecast-driven policy, and the forecast policy's trade-off curve across service levels.

``replenishment_section(study)`` returns the section as an HTML fragment (for the executive
summary, whose page loads plotly.js once); ``render_replenishment_page(study)`` wraps it in a
self-contained page (``data/reports/replenishment.html``).
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from retailops.reports.page import (
    _STYLE,
    ACCENT,
    BAD,
    _card,
    _chart_card,
    _table,
    _tile,
    count,
    money,
    percent,
)

# The built-in rules' rows (no service level) by policy name; the first row is the chain's own.
BUILTIN_NAMES = {"periodic_review": "built-in periodic review",
                 "periodic_review_before_issue_15": "built-in rule before issue 15"}


def _is_builtin(study: pd.DataFrame) -> pd.Series:
    return study["service_level"].isna()


def _curve(study: pd.DataFrame) -> go.Figure:
    builtin = study[_is_builtin(study)]
    forecast = study[~_is_builtin(study)].sort_values("service_level")
    figure = go.Figure()
    figure.add_trace(go.Scatter(
        x=forecast["avg_inventory_value"], y=forecast["lost_units"], mode="lines+markers+text",
        text=[f"{level:.0%}" for level in forecast["service_level"]], textposition="top center",
        name="forecast-driven (service level)", marker={"color": ACCENT, "size": 9}))
    for (_, row), symbol in zip(builtin.iterrows(), ("diamond", "square", "circle")):
        name = BUILTIN_NAMES.get(row["policy"], str(row["policy"]))
        figure.add_trace(go.Scatter(
            x=[row["avg_inventory_value"]], y=[row["lost_units"]], mode="markers+text",
            text=[name.removeprefix("built-in ")], textposition="bottom center", name=name,
            marker={"color": BAD, "size": 12, "symbol": symbol}))
    figure.update_xaxes(title_text="average inventory value at cost")
    figure.update_yaxes(title_text="lost units", rangemode="tozero")
    return figure


def _rows(study: pd.DataFrame) -> list[list[str]]:
    rows = []
    for position, (_, row) in enumerate(study.iterrows()):
        builtin = pd.isna(row["service_level"])
        name = (BUILTIN_NAMES.get(row["policy"], str(row["policy"])) if builtin
                else f"forecast-driven, service level {row['service_level']:.0%}")
        if row.get("headline") is True:
            name += " (headline)"
        compared = position > 0
        rows.append([html.escape(name), count(row["lost_units"]), percent(row["fill_rate"]),
                     money(row["avg_inventory_value"]), f"{row['days_of_cover']:.1f}",
                     count(row["orders"]), count(row["order_lines"]),
                     count(row["delivery_lines"]),
                     percent(row["lost_units_vs_builtin"] - 1, 0) if compared else "",
                     percent(row["inventory_vs_builtin"] - 1, 0) if compared else ""])
    return rows


def replenishment_section(study: pd.DataFrame) -> str:
    """The study as an HTML ``<section>`` (needs plotly.js on the page)."""
    base = study.iloc[0]
    forecast = study[~_is_builtin(study)]
    headline = forecast[forecast["headline"].astype(bool)]
    head = headline.iloc[0] if len(headline) else forecast.iloc[0]
    meets = ((forecast["lost_units"] <= 0.5 * base["lost_units"])
             & (forecast["avg_inventory_value"] <= base["avg_inventory_value"]))
    verdict = (f"Target met at the headline level ({head['service_level']:.0%})"
               if bool(meets[head.name] if head.name in meets.index else False)
               else "Target not met at the headline level")
    levels = ", ".join(f"{x:.0%}" for x in forecast.loc[meets, "service_level"]) or "none"
    period = f"{base['start_date']} to {base['end_date']} ({int(base['days'])} days)"
    tiles = "".join([
        _tile("Lost units, built-in", count(base["lost_units"])),
        _tile(f"Lost units, forecast {head['service_level']:.0%}", count(head["lost_units"]),
              f"<span>{percent(head['lost_units_vs_builtin'] - 1, 0)} vs built-in</span>"),
        _tile("Fill rate, built-in → forecast",
              f"{percent(base['fill_rate'])} → {percent(head['fill_rate'])}"),
        _tile("Avg inventory at cost, built-in → forecast",
              f"{money(base['avg_inventory_value'])} → {money(head['avg_inventory_value'])}"),
    ])
    note = (f"Same simulated demand under every policy, {period}, from the same start state "
            f"(scale {base['scale']}, seed {int(base['seed'])}). Target: ≥ 50% fewer lost "
            f"units than the built-in policy "
            f"({BUILTIN_NAMES.get(base['policy'], base['policy'])}) at no more average "
            f"inventory value. {verdict}; levels meeting it: {levels}.")
    others = study[_is_builtin(study)].iloc[1:]
    for _, other in others.iterrows():
        met = forecast[(forecast["lost_units"] <= 0.5 * other["lost_units"])
                       & (forecast["avg_inventory_value"] <= other["avg_inventory_value"])]
        note += (f" Against the {BUILTIN_NAMES.get(other['policy'], other['policy'])} "
                 f"({count(other['lost_units'])} units lost, {money(other['avg_inventory_value'])}"
                 f" average inventory), levels meeting it: "
                 + (", ".join(f"{x:.0%}" for x in met["service_level"]) or "none") + ".")
    if "plan_note" in forecast and len(forecast):
        note += (f" Forecaster: {head.get('forecaster', '')}, every "
                 f"{int(head.get('forecast_every_days', 0) or 0)} days; beyond the published "
                 "promotion plan it assumes no promotion "
                 f"({int(head.get('days_beyond_plan', 0) or 0)} forecast days).")
    if "safety_stock" in forecast and len(forecast):
        note += (f" Safety stock from {head['safety_stock']}"
                 + ("; the published plan's lift measured from observed sales"
                    if bool(head.get("plan_lift", False)) else "") + ".")
    table = _table(_rows(study), [("policy", False), ("lost units", True), ("fill rate", True),
                                  ("avg inventory", True), ("days of cover", True),
                                  ("orders", True), ("order lines", True),
                                  ("delivery lines", True), ("lost vs built-in", True),
                                  ("inventory vs built-in", True)])
    return ("<section id='replenishment'><h2>Closed-loop replenishment study</h2>"
            f"<p class='note'>{html.escape(note)}</p>"
            f"<div class='tiles'>{tiles}</div><div class='grid2' style='margin-top:1rem'>"
            + _chart_card("Trade-off: lost units against inventory", "chart-replenishment",
                          _curve(study), "Forecast-driven policy at each service level; the "
                          "built-in policy as one point.")
            + _card("Every policy run", table) + "</div></section>")


def render_replenishment_page(study: pd.DataFrame) -> str:
    """The study as one self-contained HTML document (plotly.js inlined)."""
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>RetailOps replenishment study</title>"
            f"<style>{_STYLE}</style>"
            f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
            "<header><h1>RetailOps replenishment study</h1><p>Built-in periodic review vs "
            "forecast-driven order-up-to, on the same simulated demand</p></header><main>"
            + replenishment_section(study) + "</main></body></html>")
