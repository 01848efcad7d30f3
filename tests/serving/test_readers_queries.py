"""Everything readers ask runs on the serving file and answers what the warehouse answers:
every Metabase question of the dashboard spec, every query of the executive summary, and the
catalog entries analysts load in notebooks."""

from __future__ import annotations

import re

import duckdb
import pandas as pd
import pytest
import yaml

from retailops.dashboards.metabase.spec import MARTS_TOKEN
from retailops.reports import REPORT_QUERIES, ReportWindow, queries
from retailops.warehouse.engines import DuckDBWarehouse
from retailops.warehouse.serving import ServingWarehouse
from tests.conftest import PROJECT_ROOT, run_kedro

QUESTIONS = yaml.safe_load(
    (PROJECT_ROOT / "conf/base/metabase/dashboards.yml").read_text())["questions"]
# The forecast questions read marts the warehouse does not hold (the forecast stage writes them
# to curated/): tests/serving/test_forecast_marts.py runs them on a published forecast.
FORECAST_QUESTIONS = {key for key, q in QUESTIONS.items()
                      if "fct_demand_forecast" in q["sql"] or "forecast_accuracy" in q["sql"]}
# The Favorita study's questions read schema favorita, published only once the study ran:
# tests/favorita/test_favorita_serving.py runs them on a published Favorita mart.
FAVORITA_QUESTIONS = {key for key, q in QUESTIONS.items() if "favorita." in q["sql"]}


def _same(left: pd.DataFrame, right: pd.DataFrame, name: str) -> None:
    """Equal frames; rows sorted first, as a query's ties may come back in any order."""
    columns = list(left.columns)
    pd.testing.assert_frame_equal(
        left.sort_values(columns, ignore_index=True, na_position="first"),
        right.sort_values(columns, ignore_index=True, na_position="first"), obj=name)


@pytest.mark.parametrize("key", sorted(set(QUESTIONS) - FORECAST_QUESTIONS - FAVORITA_QUESTIONS))
def test_each_metabase_question_runs_on_the_serving_file(tiny_platform, key):
    # Metabase writes an unset field filter as 1 = 1.
    sql = re.sub(r"\{\{\s*\w+\s*\}\}", "1 = 1",
                 QUESTIONS[key]["sql"].replace(MARTS_TOKEN, "marts"))
    with duckdb.connect(str(tiny_platform.serving), read_only=True) as served:
        answer = served.execute(sql).df()
    with duckdb.connect(str(tiny_platform.warehouse), read_only=True) as built:
        expected = built.execute(sql).df()
    assert len(answer) > 0, key
    _same(answer, expected, key)


def test_every_report_query_runs_on_the_serving_file(tiny_platform):
    served = ServingWarehouse(path=str(tiny_platform.serving))
    built = DuckDBWarehouse(path=str(tiny_platform.warehouse))
    first, last = queries.sales_date_range(served)
    assert (first, last) == queries.sales_date_range(built)
    window = ReportWindow.ending(last, 2, 90, 14, first)
    with served.session() as on_serving, built.session() as on_warehouse:
        for name, query in REPORT_QUERIES.items():
            answer = query(on_serving, window)
            assert len(answer) > 0, name
            _same(answer, query(on_warehouse, window), name)


def test_the_report_stage_alone_reads_the_serving_file(tiny_platform):
    page = tiny_platform.project / "reports" / "executive_summary.html"
    page.unlink()
    tiny_platform.warehouse.rename(tiny_platform.warehouse.with_suffix(".away"))
    try:  # with the warehouse out of the way, only the serving file can answer
        run = run_kedro("run", "--conf-source", str(tiny_platform.conf), "--pipelines", "report")
    finally:
        tiny_platform.warehouse.with_suffix(".away").rename(tiny_platform.warehouse)
    assert run.returncode == 0, run.stderr[-4000:]
    assert page.is_file() and "Net revenue" in page.read_text()


def test_analysts_load_the_marts_from_the_serving_file(tiny_platform):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(tiny_platform.project)
    with KedroSession.create(project_path=tiny_platform.project,
                             conf_source=str(tiny_platform.conf)) as session:
        catalog = session.load_context().catalog
        read_from = {name: catalog.load(name).warehouse.path
                     for name in ("fct_daily_sales", "dim_products", "mart_supplier_performance",
                                  "stg_defects", "stg_sales")}
        readers_warehouse = catalog.load("serving_warehouse")
        sales = catalog.load("fct_daily_sales").query("select count(*) as n from {table}")
    serving, warehouse = str(tiny_platform.serving), str(tiny_platform.warehouse)
    assert read_from == {"fct_daily_sales": serving, "dim_products": serving,
                         "mart_supplier_performance": serving, "stg_defects": serving,
                         "stg_sales": warehouse}  # staging views stay with the engineers
    assert isinstance(readers_warehouse, ServingWarehouse) and readers_warehouse.path == serving
    assert sales.n[0] > 0


def test_on_aws_readers_use_athena_and_publishing_does_nothing(tmp_path, monkeypatch):
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog

    from retailops import settings
    from retailops.warehouse.engines import AthenaWarehouse
    from tests.platform_fixture import make_project

    for name, value in {"RETAILOPS_ATHENA_SCHEMA": "shop", "RETAILOPS_ATHENA_WORK_GROUP": "wg",
                        "RETAILOPS_LAKE_BUCKET": "shop-lake"}.items():
        monkeypatch.setenv(name, value)
    project = tmp_path / "project"
    conf, _ = make_project(project)
    config = OmegaConfigLoader(str(conf), env="aws", **settings.CONFIG_LOADER_ARGS)
    catalog = DataCatalog.from_config(config["catalog"], credentials=config["credentials"])
    readers = catalog.get("serving_warehouse")
    readers.save({"copied_relations": ["staging.stg_defects"], "keep_snapshots": 2})
    assert isinstance(readers.load(), AthenaWarehouse)
    loaded = {name: catalog.load(name) for name in ("fct_daily_sales", "stg_defects")}
    assert {name: table.qualified_name for name, table in loaded.items()} == {
        "fct_daily_sales": "shop_marts.fct_daily_sales",
        "stg_defects": "shop_staging.stg_defects"}
    assert all(isinstance(table.warehouse, AthenaWarehouse) for table in loaded.values())
    assert not (project / "warehouse").exists()  # nothing published, nothing opened
