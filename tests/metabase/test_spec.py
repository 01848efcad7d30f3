"""The dashboard spec is checked before any request: layout, references, variables, filter types."""

from __future__ import annotations

import pytest

from retailops.dashboards.metabase import MetabaseSpecError, load_connection, load_spec
from retailops.pipelines.metabase.nodes import provision_metabase

from .conftest import API_KEY


def test_the_shipped_spec_is_valid(raw_spec):
    spec = load_spec(raw_spec)
    assert len(spec.questions) == 22
    assert [d.key for d in spec.dashboards] == ["executive_summary", "operations", "forecast", "favorita"]
    for dashboard in spec.dashboards:
        # The forecast dashboard has no filters: its questions read one forecast date's levels;
        # nor has Favorita's: field filters resolve in the marts schema, its mart is not there.
        assert [f.type for f in dashboard.filters] == (
            [] if dashboard.key in ("forecast", "favorita") else ["date/all-options", "string/=", "string/="])
        assert all(c.col + c.size_x <= 24 for c in dashboard.cards)


def test_a_card_off_the_grid_is_rejected_before_any_request(raw_spec, standin):
    raw_spec["dashboards"]["operations"]["cards"][1]["col"] = 14  # 14 + 12 = 26
    from retailops.dashboards.metabase import MetabaseClient

    client = MetabaseClient(standin.url, api_key=API_KEY)
    params = {"connection": "local", "dry_run": False, "connections": {"local": {
        "name": "W", "engine": "duckdb", "details": {}, "marts_schema": "marts"}}}
    with pytest.raises(MetabaseSpecError) as error:
        provision_metabase(client, raw_spec, params)
    assert "dashboards.operations.cards[1] (inventory_value_by_region): col 14 + size_x 12 = 26 " \
           "is off the 24-column grid" in str(error.value)
    assert standin.state.requests == []


@pytest.mark.parametrize("edit, problem", [
    (lambda s: s["dashboards"]["operations"]["cards"][2].update(row=5),
     "dashboards.operations.cards[2] (supplier_scorecard) overlaps dashboards.operations.cards[0]"),
    (lambda s: s["dashboards"]["operations"]["cards"][2].update(question="nope"),
     "dashboards.operations.cards[2] (nope): no question called 'nope'"),
    (lambda s: s["questions"]["supplier_scorecard"].update(sql="select {{store}}"),
     "questions.supplier_scorecard: the SQL uses {{store}} but filters does not declare it"),
    (lambda s: s["questions"]["kpi_profit"].update(display="donut"),
     "questions.kpi_profit.display='donut' is not a Metabase visualization"),
    (lambda s: s["dashboards"]["operations"]["filters"][1].update(type="date/range"),
     "filter 'region' of type date/range cannot drive a string/= variable"),
    (lambda s: s["dashboards"]["operations"]["filters"][1].update(type="dropdown"),
     "dashboards.operations.filters.region.type='dropdown' is not a Metabase filter type"),
    (lambda s: s["dashboards"]["operations"]["filters"].append(
        {"slug": "brand", "name": "Brand", "type": "string/="}),
     "dashboards.operations.filters.brand drives no card"),
    (lambda s: s["dashboards"]["operations"]["cards"][0].update(size_x="wide"),
     "dashboards.operations.cards[0].size_x='wide' is not an integer"),
])
def test_inconsistent_specs_are_refused_with_the_place_named(raw_spec, edit, problem):
    edit(raw_spec)
    with pytest.raises(MetabaseSpecError) as error:
        load_spec(raw_spec)
    assert problem in str(error.value)
    assert "\n" not in str(error.value)


def test_an_unknown_connection_name_is_refused():
    with pytest.raises(MetabaseSpecError, match=r"metabase.connection='athena' is not among "
                                                r"metabase.connections \(local_duckdb\)"):
        load_connection({"local_duckdb": {}}, "athena")
