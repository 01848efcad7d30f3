"""The forecast marts in the readers' serving file: they have no warehouse table (the forecast
stage writes Parquet), so publish exposes them from curated/ with their fixed columns, and as
empty typed views while no forecast exists (a fresh lake, too little history)."""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retailops.pipelines.publish.nodes import publish_marts
from retailops.warehouse.serving import PublishError, publish_serving
from tests.forecast_fixture import write_accuracy, write_forecast

FORECAST_MARTS = ["fct_demand_forecast", "fct_demand_forecast_levels", "forecast_accuracy"]


def _columns(path, name):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"describe marts.{name}").fetchall()


def _query(path, sql):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_the_publish_parameters_expose_the_forecast_marts():
    import yaml

    from tests.conftest import PROJECT_ROOT

    params = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_publish.yml").read_text())
    request = publish_marts({"status": "passed", "checks": []}, params["publish"])
    assert request["curated_tables"] == FORECAST_MARTS


def test_no_forecast_yet_gives_empty_views_with_the_contract_columns(copied):
    lake, warehouse, path = copied
    publication = publish_serving(warehouse, path, lake, curated_tables=FORECAST_MARTS)
    assert {f"marts.{m}" for m in FORECAST_MARTS} <= set(publication.views)
    assert [(c[0], c[1]) for c in _columns(path, "fct_demand_forecast")] == [
        ("forecast_date", "DATE"), ("target_date", "DATE"), ("store_id", "VARCHAR"),
        ("product_id", "VARCHAR"), ("model", "VARCHAR"), ("model_version", "VARCHAR"),
        ("units", "DOUBLE"), ("units_p10", "DOUBLE"), ("units_p90", "DOUBLE")]
    assert [c[0] for c in _columns(path, "forecast_accuracy")][:3] == [
        "backtest_date", "model", "level"]
    for mart in FORECAST_MARTS:
        assert _query(path, f"select count(*) from marts.{mart}") == [(0,)]


def test_a_written_forecast_is_served_with_its_date_and_rows(copied):
    lake, warehouse, path = copied
    bottom = write_forecast(lake, date(2024, 7, 3), [("ST001", "P00001"), ("ST002", "P00002")],
                            {"P00001": "Dairy", "P00002": "Bakery"})
    write_accuracy(lake, date(2024, 7, 3))
    publication = publish_serving(warehouse, path, lake, curated_tables=FORECAST_MARTS)
    assert publication.rows["fct_demand_forecast"] == len(bottom) == 2 * 2 * 14
    assert _query(path, "select min(forecast_date), min(target_date), max(target_date), "
                        "round(sum(units), 6) from marts.fct_demand_forecast") == [
        (date(2024, 7, 3), date(2024, 7, 4), date(2024, 7, 17),
         round(sum(r["units"] for r in bottom), 6))]
    assert _query(path, "select count(*) from marts.fct_demand_forecast_levels "
                        "where level = 'chain'") == [(2 * 14,)]
    assert _query(path, "select backtest_date, wape_ratio_to_oracle from marts.forecast_accuracy "
                        "where model = 'lightgbm' and level = 'store_product' "
                        "and against = 'true_demand'") == [(date(2024, 7, 3), 1.08)]


def test_a_forecast_file_without_the_contract_columns_is_not_published(copied):
    lake, warehouse, path = copied
    folder = lake / "curated/fct_demand_forecast/forecast_date=2024-07-03"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"target_date": [date(2024, 7, 4)], "units": [1.0]}),
                   folder / "forecast.parquet")
    with pytest.raises(PublishError, match=r"curated mart fct_demand_forecast .* does not have "
                                           r"the columns readers expect"):
        publish_serving(warehouse, path, lake, curated_tables=FORECAST_MARTS)
    assert not path.exists()


def test_an_unknown_curated_table_is_refused(copied):
    lake, warehouse, path = copied
    with pytest.raises(PublishError, match=r"publish.curated_tables: fct_nothing not a known"):
        publish_serving(warehouse, path, lake, curated_tables=["fct_nothing"])


def _question(key: str) -> str:
    import re

    import yaml

    from retailops.dashboards.metabase.spec import MARTS_TOKEN
    from tests.conftest import PROJECT_ROOT

    questions = yaml.safe_load(
        (PROJECT_ROOT / "conf/base/metabase/dashboards.yml").read_text())["questions"]
    return re.sub(r"\{\{\s*\w+\s*\}\}", "1 = 1", questions[key]["sql"].replace(MARTS_TOKEN, "marts"))


def test_the_forecast_dashboard_questions_answer_from_a_published_forecast(copied):
    """Two daily forecasts over the platform's days (made on 07-01 and 07-02, production model
    lightgbm) and a backtest: each question of the forecast dashboard, on the serving file,
    against numbers computed here from the rows written and the warehouse's sales."""
    from datetime import timedelta

    lake, warehouse, path = copied
    with duckdb.connect(str(warehouse), read_only=True) as con:
        category = dict(con.execute("select product_id, category from marts.dim_products")
                        .fetchall())
        cells = con.execute("select store_id, product_id from marts.fct_daily_sales "
                            "group by 1, 2 order by 1, 2 limit 6").fetchall()
        sold = dict(con.execute("select sale_date, sum(quantity) from marts.fct_daily_sales "
                                "group by 1").fetchall())
    made = {}
    for day in (date(2024, 7, 1), date(2024, 7, 2)):
        made[day] = write_forecast(lake, day, cells, category, level_models=["lightgbm"])
    write_accuracy(lake, date(2024, 7, 2))
    publish_serving(warehouse, path, lake, curated_tables=FORECAST_MARTS)

    def chain(day, target):
        return sum(r["units"] for r in made[day] if r["model"] == "lightgbm"
                   and r["target_date"] == target)

    # The next 14 days of the latest forecast (07-02), chain level, with the band.
    rows = _query(path, _question("forecast_next_14_days"))
    assert [(r[0], r[1]) for r in rows] == [(date(2024, 7, 2) + timedelta(days=n), "lightgbm")
                                            for n in range(1, 15)]
    assert [round(r[3], 6) for r in rows] == [
        round(chain(date(2024, 7, 2), r[0]), 6) for r in rows]
    assert all(r[2] < r[3] < r[4] for r in rows)
    # One day ahead: 07-02 (made 07-01) and 07-03 (made 07-02) against what was sold.
    rows = _query(path, _question("forecast_vs_actual_chain"))
    assert [(r[0], r[1], round(r[2], 6)) for r in rows] == [
        (date(2024, 7, 2), sold[date(2024, 7, 2)], round(chain(date(2024, 7, 1), date(2024, 7, 2)), 6)),
        (date(2024, 7, 3), sold[date(2024, 7, 3)], round(chain(date(2024, 7, 2), date(2024, 7, 3)), 6))]
    rows = _query(path, _question("forecast_vs_actual_by_category"))
    assert {(r[0], r[1]) for r in rows} == {(d, category[p]) for d in (date(2024, 7, 2),
                                                                       date(2024, 7, 3))
                                            for _, p in cells}
    assert round(sum(r[3] for r in rows if r[0] == date(2024, 7, 3)), 6) == round(
        chain(date(2024, 7, 2), date(2024, 7, 3)), 6)
    rows = _query(path, _question("forecast_accuracy"))
    assert len(rows) == 6 and rows[0][:3] == ("observed", "store_product", "lightgbm")
    # Biggest errors: store x product x day of the production model, sold - forecast.
    rows = _query(path, _question("biggest_forecast_errors"))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        quantity = {(d, s, p): q for d, s, p, q in con.execute(
            "select sale_date, store_id, product_id, quantity from marts.fct_daily_sales")
            .fetchall()}
    expected = sorted(
        abs(quantity.get((r["target_date"], r["store_id"], r["product_id"]), 0) - r["units"])
        for day in made for r in made[day]
        if r["model"] == "lightgbm" and r["target_date"] == day + timedelta(days=1)
        and r["target_date"] <= date(2024, 7, 3))
    assert sorted(round(abs(r[7]), 6) for r in rows) == [round(e, 6) for e in expected]
    assert {r[4] for r in rows} == {"lightgbm"}
