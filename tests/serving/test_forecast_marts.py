"""The forecast marts in the readers' serving file: they have no warehouse table (the forecast
stage writes Parquet), so publish exposes them from curated/ with their fixed columns, and as
empty typed views while no forecast exists (a fresh lake, too little history)."""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retailops.pipelines.publish.nodes import publish_marts
from retailops.warehouse.serving import PublishError, publish_serving
from tests.forecast_fixture import write_accuracy, write_forecast

FORECAST_MARTS = ["fct_demand_forecast", "fct_demand_forecast_levels", "forecast_accuracy"]


@pytest.fixture
def copied(tiny_platform, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(tiny_platform.lake / "curated", lake / "curated")
    warehouse = tmp_path / "warehouse" / "retailops.duckdb"
    warehouse.parent.mkdir()
    shutil.copy(tiny_platform.warehouse, warehouse)
    return lake, warehouse, tmp_path / "warehouse" / "serving.duckdb"


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
