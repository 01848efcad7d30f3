"""Provisioning over real HTTP against the stand-in: create, re-run, change, plan, and fail well."""

from __future__ import annotations

import pytest

from retailops.dashboards.metabase import MetabaseClient, MetabaseError, load_spec, provision
from retailops.dashboards.metabase.provision import _native_query

from .conftest import API_KEY

# database + its sync + collection + 22 cards + 4 dashboards x (POST empty, one PUT)
FIRST_RUN_WRITES = 1 + 1 + 1 + 22 + 4 * 2


def _run(standin, spec, connection, dry_run=False, **auth):
    client = MetabaseClient(standin.url, timeout_seconds=5, **(auth or {"api_key": API_KEY}))
    return provision(client, spec, connection, dry_run=dry_run, sync_wait_seconds=0)


def test_first_run_creates_everything(standin, raw_spec, connection):
    report = _run(standin, load_spec(raw_spec), connection)
    state = standin.state
    assert len(state.writes) == FIRST_RUN_WRITES == len(report.writes)
    assert {c.action for c in report.changes} == {"create"}
    assert [d["name"] for d in state.databases.values()] == ["RetailOps warehouse (DuckDB)"]
    assert [c["name"] for c in state.collections.values()] == ["RetailOps"]
    assert len(state.cards) == 22
    assert ("POST", "/api/dashboard") in state.writes
    # filled by one PUT each, never by the removed POST /api/dashboard/:id/cards
    assert not [p for _, p in state.requests if p.endswith("/cards")]
    summary = next(d for d in state.dashboards.values() if "Executive" in d["name"])
    assert len(summary["dashcards"]) == 8
    assert {p["slug"] for p in summary["parameters"]} == {"date_range", "region", "category"}
    for dashcard in summary["dashcards"]:
        assert {m["card_id"] for m in dashcard["parameter_mappings"]} == {dashcard["card_id"]}
        assert len(dashcard["parameter_mappings"]) == 3
    card = state.cards[summary["dashcards"][0]["card_id"]]
    assert "from marts.fct_daily_sales" in card["dataset_query"]["native"]["query"]
    forecast = next(d for d in state.dashboards.values() if "Demand forecast" in d["name"])
    assert len(forecast["dashcards"]) == 5 and forecast["parameters"] == []
    queries = [state.cards[d["card_id"]]["dataset_query"]["native"]["query"]
               for d in forecast["dashcards"]]
    assert all("marts.fct_demand_forecast" in q or "marts.forecast_accuracy" in q for q in queries)


def test_second_run_changes_nothing(standin, raw_spec, connection):
    spec = load_spec(raw_spec)
    _run(standin, spec, connection)
    before = len(standin.state.writes)
    report = _run(standin, spec, connection)
    assert len(standin.state.writes) == before
    assert report.writes == []
    assert {c.action for c in report.changes} == {"unchanged"}


def test_a_changed_spec_updates_only_what_changed(standin, raw_spec, connection):
    _run(standin, load_spec(raw_spec), connection)
    summary = next(d for d in standin.state.dashboards.values() if "Executive" in d["name"])
    ids_before = {d["card_id"]: d["id"] for d in summary["dashcards"]}
    raw_spec["questions"]["top_products"]["sql"] = raw_spec["questions"]["top_products"]["sql"].replace(
        "limit 20", "limit 25")
    raw_spec["dashboards"]["executive_summary"]["cards"][6]["size_y"] = 9
    raw_spec["dashboards"]["executive_summary"]["cards"][7]["size_y"] = 9
    before = len(standin.state.writes)
    report = _run(standin, load_spec(raw_spec), connection)
    new_writes = standin.state.writes[before:]
    top_products = next(c for c in standin.state.cards.values() if c["name"].startswith("Top 20"))
    assert sorted(new_writes) == sorted([("PUT", f"/api/card/{top_products['id']}"),
                                         ("PUT", f"/api/dashboard/{summary['id']}")])
    assert [c.line() for c in report.pending] == [
        "~ update card 'Top 20 products by net revenue' (dataset_query)",
        "~ update dashboard 'RetailOps — Executive summary' (dashcards)"]
    # existing dashcards were updated in place, not deleted and re-created
    assert {d["card_id"]: d["id"] for d in summary["dashcards"]} == ids_before
    assert "limit 25" in top_products["dataset_query"]["native"]["query"]


def test_a_card_removed_from_the_layout_leaves_the_dashboard(standin, raw_spec, connection):
    _run(standin, load_spec(raw_spec), connection)
    raw_spec["dashboards"]["operations"]["cards"].pop()  # supplier scorecard
    report = _run(standin, load_spec(raw_spec), connection)
    operations = next(d for d in standin.state.dashboards.values() if "Inventory" in d["name"])
    assert len(operations["dashcards"]) == 2
    assert [c.line() for c in report.pending] == [
        "~ update dashboard 'RetailOps — Inventory and suppliers' (dashcards)"]


def test_dry_run_writes_nothing_and_prints_the_plan(standin, raw_spec, connection):
    report = _run(standin, load_spec(raw_spec), connection, dry_run=True)
    assert standin.state.writes == []
    lines = report.lines()
    assert lines[0] == "+ create database 'RetailOps warehouse (DuckDB)'"
    assert "+ create card 'Net revenue'" in lines
    assert "+ create dashboard 'RetailOps — Executive summary'" in lines
    assert lines[-1].endswith("would create 28, update 0, leave 0 unchanged; 0 write request(s) (dry run)")


def test_dry_run_after_a_change_shows_the_update_and_writes_nothing(standin, raw_spec, connection):
    _run(standin, load_spec(raw_spec), connection)
    raw_spec["collection"]["description"] = "Owned by the data team."
    before = len(standin.state.writes)
    report = _run(standin, load_spec(raw_spec), connection, dry_run=True)
    assert len(standin.state.writes) == before
    assert [c.line() for c in report.pending] == ["~ update collection 'RetailOps' (description)"]


def test_username_and_password_log_in_with_a_session(standin, raw_spec, connection):
    report = _run(standin, load_spec(raw_spec), connection,
                  username="admin@example.com", password="s3cret")
    assert len(report.writes) == FIRST_RUN_WRITES
    assert ("POST", "/api/session") in standin.state.requests


def test_a_bad_api_key_ends_in_one_line(standin, raw_spec, connection):
    with pytest.raises(MetabaseError) as error:
        _run(standin, load_spec(raw_spec), connection, api_key="wrong")
    message = str(error.value)
    assert "\n" not in message
    assert message == (f"Metabase at {standin.url} rejected the API key (401 Unauthenticated): "
                       "check METABASE_API_KEY or credentials 'metabase'")
    assert standin.state.writes == []


def test_a_bad_password_ends_in_one_line(standin, raw_spec, connection):
    with pytest.raises(MetabaseError, match=r"refused the login of 'admin@example.com' \(401\)"):
        _run(standin, load_spec(raw_spec), connection, username="admin@example.com", password="no")


def test_an_unknown_database_ends_in_one_line(standin, raw_spec, connection):
    existing_only = connection.__class__(name="Warehouse nobody added", engine="", details={},
                                         marts_schema="marts", manage=False)
    with pytest.raises(MetabaseError) as error:
        _run(standin, load_spec(raw_spec), existing_only)
    assert str(error.value).startswith(
        f"unknown database 'Warehouse nobody added' in Metabase at {standin.url}:")
    assert standin.state.writes == []


def test_an_engine_metabase_does_not_know_is_rejected_in_one_line(standin, raw_spec, connection):
    odd = connection.__class__(name="X", engine="duckdbb", details={}, marts_schema="marts")
    with pytest.raises(MetabaseError) as error:
        _run(standin, load_spec(raw_spec), odd)
    assert str(error.value) == (
        "Metabase rejected database connection 'X' (engine duckdbb) (POST /api/database -> 400 at "
        f"{standin.url}): Invalid engine")


def test_a_card_metabase_rejects_ends_in_one_line(client, standin):
    with pytest.raises(MetabaseError) as error:
        client.post("/api/card", {"name": "Half a card", "display": "table"}, "card 'Half a card'")
    assert str(error.value) == (
        f"Metabase rejected card 'Half a card' (POST /api/card -> 400 at {standin.url}): "
        "dataset_query is required")


def test_marts_missing_from_the_synced_schema_end_in_one_line(standin, raw_spec, connection):
    raw_spec["questions"]["supplier_scorecard"]["sql"] += "where {{supplier}}"
    raw_spec["questions"]["supplier_scorecard"]["filters"] = {
        "supplier": {"field": "dim_suppliers.supplier_name", "widget": "string/="}}
    with pytest.raises(MetabaseError, match=r"has no field marts\.dim_suppliers\.supplier_name: "
                                            r"are the marts built and the schema synced\?"):
        _run(standin, load_spec(raw_spec), connection)


def test_the_standin_rejects_a_card_off_the_grid_when_forced(standin, raw_spec, connection, client):
    _run(standin, load_spec(raw_spec), connection)
    dashboard = next(iter(standin.state.dashboards.values()))
    dashcards = [{**d, "col": 20, "size_x": 6} if i == 0 else d
                 for i, d in enumerate(dashboard["dashcards"])]
    with pytest.raises(MetabaseError, match=r"-> 400 .*off the 24-column grid"):
        client.put(f"/api/dashboard/{dashboard['id']}", {"dashcards": dashcards},
                   "dashboard 'forced'")


def test_the_standin_rejects_a_filter_mapping_without_card_id(standin, raw_spec, connection, client):
    _run(standin, load_spec(raw_spec), connection)
    dashboard = next(iter(standin.state.dashboards.values()))
    dashcards = [{**d, "parameter_mappings": [{k: v for k, v in m.items() if k != "card_id"}
                                              for m in d["parameter_mappings"]]}
                 for d in dashboard["dashcards"]]
    with pytest.raises(MetabaseError, match="card_id is missing"):
        client.put(f"/api/dashboard/{dashboard['id']}", {"dashcards": dashcards}, "dashboard 'x'")


def test_the_removed_add_card_endpoint_is_gone(standin, raw_spec, connection, client):
    _run(standin, load_spec(raw_spec), connection)
    dashboard_id = next(iter(standin.state.dashboards))
    with pytest.raises(MetabaseError, match="-> 404"):
        client.post(f"/api/dashboard/{dashboard_id}/cards", {"cardId": 1}, "the old endpoint")


def test_an_unreachable_metabase_ends_in_one_line(raw_spec, connection):
    from tests.conftest import free_port

    client = MetabaseClient(f"http://127.0.0.1:{free_port()}", api_key="k", timeout_seconds=2)
    with pytest.raises(MetabaseError, match=r"^cannot reach Metabase at http://127\.0\.0\.1:\d+: "
                                            r"ConnectionError$"):
        provision(client, load_spec(raw_spec), connection, dry_run=True)


def test_cards_read_back_in_mbql5_compare_equal_to_the_legacy_form():
    legacy = {"type": "native", "database": 3,
              "native": {"query": "select 1 where {{d}}", "template-tags": {
                  "d": {"id": "x", "name": "d", "display-name": "D", "type": "dimension",
                        "dimension": ["field", 42, None], "widget-type": "date/all-options"}}}}
    mbql5 = {"lib/type": "mbql/query", "database": 3, "stages": [{
        "lib/type": "mbql.stage/native", "native": "select 1 where {{d}}", "template-tags": {
            "d": {"id": "x", "name": "d", "display-name": "D", "type": "dimension",
                  "dimension": ["field", {"lib/uuid": "u"}, 42], "widget-type": "date/all-options",
                  "default": None}}}]}
    assert _native_query(legacy) == _native_query(mbql5)
