"""``kedro viz run`` shows the whole flow, raw partitions -> dbt staging -> marts -> reports, in
layers; checked through its HTTP API and in the graph headless Chromium draws."""

from __future__ import annotations

import socket
from collections import defaultdict

import pytest

from retailops.warehouse.lineage import dbt_models
from tests.conftest import PROJECT_ROOT
from tests.reports.chromium import Browser

FLOW_LAYERS = ["raw", "staging", "marts", "reporting"]
SCREENSHOT = PROJECT_ROOT / "test-artifacts" / "kedro_viz.png"
# kedro-viz's own front end asks Google Fonts for its typeface; offline that request fails and
# the browser logs it. Nothing else may reach the console.
KEDRO_VIZ_FONT = "fonts.googleapis.com"


@pytest.fixture(scope="module")
def graph(viz_server):
    """The default pipeline's graph from kedro-viz's API: nodes by id and edges by source."""
    main = viz_server.get_json("/api/main")
    nodes = {n["id"]: n for n in main["nodes"]}
    successors = defaultdict(set)
    for edge in main["edges"]:
        successors[edge["source"]].add(edge["target"])
    return {"main": main, "nodes": nodes, "successors": successors}


def _data_node(graph, name: str) -> dict:
    matches = [n for n in graph["nodes"].values() if n["type"] == "data" and n["name"] == name]
    assert len(matches) == 1, f"dataset {name}: {matches}"
    return matches[0]


def _reachable(graph, start: str, goal: str) -> bool:
    seen, frontier = set(), [start]
    while frontier:
        node = frontier.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            frontier.extend(graph["successors"][node])
    return False


def test_every_dbt_model_is_a_dataset_in_its_layer(graph):
    for model in dbt_models():
        node = _data_node(graph, model.name)
        assert node["layer"] == model.layer, model.name
        assert "__default__" in node["pipelines"]


def test_layers_are_ordered_raw_staging_marts_reporting(graph):
    layers = graph["main"]["layers"]
    assert all(layer in layers for layer in FLOW_LAYERS)
    assert sorted(FLOW_LAYERS, key=layers.index) == FLOW_LAYERS
    assert _data_node(graph, "executive_summary")["layer"] == "reporting"
    assert _data_node(graph, "raw_days")["layer"] == "raw"


def test_edges_go_from_raw_through_staging_and_marts_to_the_report(graph):
    ids = {name: _data_node(graph, name)["id"] for name in
           ("raw_days", "raw_dimensions", "stg_sales", "fct_daily_sales", "stg_products",
            "dim_products", "executive_summary")}
    for upstream, downstream in [("raw_days", "stg_sales"), ("stg_sales", "fct_daily_sales"),
                                 ("fct_daily_sales", "executive_summary"),
                                 ("raw_dimensions", "stg_products"),
                                 ("stg_products", "dim_products"),
                                 ("dim_products", "executive_summary")]:
        assert _reachable(graph, ids[upstream], ids[downstream]), f"{upstream} -/-> {downstream}"
    # ...and never backwards.
    assert not _reachable(graph, ids["executive_summary"], ids["fct_daily_sales"])
    assert not _reachable(graph, ids["fct_daily_sales"], ids["stg_sales"])


def test_no_task_writes_to_an_earlier_layer_than_it_reads(graph):
    nodes, order = graph["nodes"], {layer: i for i, layer in enumerate(FLOW_LAYERS)}
    inputs = defaultdict(list)
    for source, targets in graph["successors"].items():
        for target in targets:
            inputs[target].append(source)
    checked = 0
    for task_id, task in nodes.items():
        if task["type"] != "task" or "__default__" not in task["pipelines"]:
            continue
        read = [order[nodes[i]["layer"]] for i in inputs[task_id]
                if nodes[i].get("layer") in order]
        written = [order[nodes[o]["layer"]] for o in graph["successors"][task_id]
                   if nodes[o].get("layer") in order]
        if read and written:
            checked += 1
            assert max(read) <= min(written), task["name"]
    assert checked >= len(dbt_models()) + 1  # every dbt model node and the report


def test_the_rendered_graph_shows_the_dbt_models_and_the_report(viz_server):
    with Browser(width=1600, height=1000) as browser:
        browser.open(viz_server.url + "/")
        browser.wait_for("document.querySelectorAll('.pipeline-node').length >= 40", timeout=90)
        browser.pump(2.0)  # layout settles; late console output
        drawn = browser.evaluate("""
            Object.fromEntries(Array.from(document.querySelectorAll('.pipeline-node')).map(n => [
                n.querySelector('.pipeline-node__text').textContent,
                n.getBoundingClientRect().top]))""")
        layer_names = browser.evaluate(
            "Array.from(document.querySelectorAll('.pipeline-layer-name')).map(n => n.textContent)")
        browser.screenshot(SCREENSHOT, full_page=False)
        errors = [e for e in browser.console_errors if KEDRO_VIZ_FONT not in e]
    for name in ("stg_sales", "stg_inventory", "fct_daily_sales", "fct_inventory_snapshots",
                 "mart_supplier_performance", "dbt_fct_daily_sales", "summarise_marts",
                 "executive_summary"):
        assert name in drawn, f"{name} is not drawn"
    # The graph is drawn top-down in flow order.
    assert drawn["raw_days"] < drawn["stg_sales"] < drawn["fct_daily_sales"] \
        < drawn["executive_summary"]
    assert [n for n in layer_names if n in FLOW_LAYERS] == FLOW_LAYERS
    assert errors == []


def test_stopping_viz_ends_every_process_it_started(viz_server):
    assert viz_server.group_alive()
    viz_server.stop()
    assert not viz_server.group_alive()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", viz_server.port)) != 0, "the port still answers"
