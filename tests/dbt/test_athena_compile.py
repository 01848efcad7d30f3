"""The whole model set compiles for the Athena target, with dbt's AWS calls (S3, Glue,
Athena) answered by a moto server started here, and every compiled statement passes the
offline Athena check. A `dbt run` against the same server then records every statement
dbt-athena sends (views, CTAS, partition look-ups, inserts), and those pass the check too.
This proves syntax and function names, not results: moto's Athena never runs a query.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
import pytest
from athena_sql_check import athena_problems, duckdb_only_constructs
from dbt_harness import LAKE, DbtProject, athena_moto_endpoint, failures, new_project

RUN_DATE = "2024-07-03"


@pytest.fixture(scope="module")
def moto_endpoint():
    with athena_moto_endpoint() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def compiled(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> DbtProject:
    tmp = tmp_path_factory.mktemp("dbt_athena_compile")
    project = new_project(tmp, tmp / "unused-local-lake")
    # Every node: without --select the default selector would leave out the forecast source's
    # tests (the forecast stage runs them, see dbt_athena/selectors.yml).
    result = project.invoke("compile", "--select", "fqn:*", target="athena", lake_root=LAKE,
                            run_date=RUN_DATE)
    assert result.success, failures(result)
    return project


def compiled_files(project: DbtProject) -> dict[str, str]:
    root = project.target_path / "compiled" / "retailops"
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*.sql"))}


def test_every_model_and_data_test_compiles_for_athena(compiled: DbtProject) -> None:
    files = compiled_files(compiled)
    manifest = json.loads((compiled.target_path / "manifest.json").read_text())
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "test")]
    assert len(nodes) >= 18 + 20  # models, data tests (one row_rules per model)
    assert all(n.get("compiled_code") for n in nodes if n["resource_type"] == "model")
    assert {"stg_sales", "fct_daily_sales", "dim_date", "mart_supplier_performance"} <= {
        n["name"] for n in nodes}
    # One compiled statement per model and data test, plus the on-run-start hook.
    assert len(files) == len(nodes) + 1


def test_every_compiled_statement_passes_the_athena_check(compiled: DbtProject) -> None:
    problems = {path: athena_problems(sql) for path, sql in compiled_files(compiled).items()}
    assert {path: found for path, found in problems.items() if found} == {}


def test_sources_resolve_to_the_glue_raw_database(compiled: DbtProject) -> None:
    for table in ("sales", "inventory", "shipments"):
        sql = compiled_files(compiled)[f"models/staging/base/base_{table}.sql"]
        assert f'"awsdatacatalog"."retailops_raw"."{table}"' in sql
        assert "read_csv" not in sql
        staged = compiled_files(compiled)[f"models/staging/stg_{table}.sql"]
        assert f'"awsdatacatalog"."retailops_staging"."base_{table}"' in staged
    marts = compiled_files(compiled)["models/marts/fct_daily_sales.sql"]
    assert '"retailops_staging"."stg_sales"' in marts
    # Not built yet, so a first build: every day, whatever the run date.
    assert "partition_dt" not in marts


def test_facts_are_hive_parquet_partitions_overwritten_by_day(compiled: DbtProject) -> None:
    import sqlglot

    manifest = json.loads((compiled.target_path / "manifest.json").read_text())
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    for name, column in (("fct_daily_sales", "sale_date"), ("fct_inventory_snapshots", "snapshot_date")):
        config = models[name]["config"]
        assert config["incremental_strategy"] == "insert_overwrite"
        assert config["partitioned_by"] == [column]
        assert config["format"] == "parquet" and config["table_type"] == "hive"
        assert config["external_location"] == f"{LAKE}/curated/{name}"
        assert models[name]["schema"] == "retailops_marts"
        # Athena needs the partition column last.
        select = sqlglot.parse_one(models[name]["compiled_code"], read="athena")
        final = next(cte.this for cte in select.find_all(sqlglot.exp.CTE) if cte.alias == "final")
        assert final.expressions[-1].alias_or_name == column
    for name in ("dim_date", "dim_products", "dim_stores", "mart_supplier_performance"):
        assert models[name]["config"]["external_location"] == f"{LAKE}/curated/{name}"
        assert models[name]["config"]["materialized"] == "table"
    assert models["stg_sales"]["schema"] == "retailops_staging"
    # The landed raw partitions are plain views over the Glue tables on Athena.
    for name in BASE_VIEWS:
        assert models[name]["config"]["materialized"] == "view"
        assert models[name]["schema"] == "retailops_staging"


BASE_VIEWS = ("base_sales", "base_inventory", "base_shipments")
STAGING_VIEWS = (*BASE_VIEWS, "stg_manifests", "stg_products", "stg_stores", "stg_suppliers", "stg_sales",
                 "stg_inventory", "stg_shipments", "stg_defects")
TABLE_MARTS = ("dim_date", "dim_stores", "dim_products", "mart_supplier_performance")
FACT_MARTS = ("fct_daily_sales", "fct_inventory_snapshots")
FACT_DATES = {"fct_daily_sales": "sale_date", "fct_inventory_snapshots": "snapshot_date"}
KEPT_DAY, REMOVED_DAY = "2024-07-01", "2024-07-02"
AFTER_DAILY: dict[str, list[str]] = {}


CREATED = re.compile(r'create\s+(or\s+replace\s+view|table)\s+"awsdatacatalog"\."(\w+)"\."(\w+)"', re.I)
# dbt-athena's batching asks for the distinct partitions of its unpartitioned staging table.
DISTINCT_PARTITIONS = re.compile(r'select\s+distinct\s+"?(\w+)"?\s+from\s+\S*__tmp_not_partitioned', re.I)
# What that query answers in the test: 120 days, more than one statement may write.
BATCHED_DAYS = [(date(2024, 7, 1) + timedelta(days=i)).isoformat() for i in range(120)]


@pytest.fixture(scope="module")
def athena_statements(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Every statement `dbt run --target athena` sends to (moto's) Athena, first build then a
    daily run.

    moto's Athena accepts statements without running them, so the Glue catalog would never
    learn of the views and tables dbt creates and dbt-athena's follow-up Glue calls would fail.
    A thin patch registers each created view or table in moto's Glue, without columns (so the
    fact inserts of the daily run list no columns: nothing real was built), and answers the one
    query whose rows steer dbt-athena's batching (the distinct partitions of a staging table)
    with BATCHED_DAYS days, as a first build over a long history would see them.
    """
    import boto3
    from moto.athena.models import AthenaBackend, QueryResults, athena_backends

    glue = boto3.client("glue", endpoint_url=moto_endpoint, region_name="eu-west-1")
    original = AthenaBackend.start_query_execution

    def start_query_execution(self, query, *args, **kwargs):  # noqa: ANN001
        created = CREATED.search(query)
        if created:
            kind = "VIRTUAL_VIEW" if "view" in created.group(1).lower() else "EXTERNAL_TABLE"
            database, name = created.group(2), created.group(3)
            if _exists(glue, database, name):
                glue.delete_table(DatabaseName=database, Name=name)
            # Facts (and their temporary tables) are partitioned by their date, as on Athena.
            fact = FACT_DATES.get(name.removesuffix("__dbt_tmp"))
            keys = [{"Name": fact, "Type": "date"}] if fact else []
            glue.create_table(DatabaseName=database, TableInput={
                "Name": name, "TableType": kind, "Parameters": {"classification": "parquet"},
                "PartitionKeys": keys,
                "StorageDescriptor": {"Columns": [], "Location": f"{LAKE}/curated/{name}"}})
        execution_id = original(self, query, *args, **kwargs)
        distinct = DISTINCT_PARTITIONS.search(query)
        if distinct:
            column = distinct.group(1)
            header = {"Data": [{"VarCharValue": column}]}
            days = [{"Data": [{"VarCharValue": d}]} for d in BATCHED_DAYS]
            self.query_results[execution_id] = QueryResults(
                rows=[header, *days], column_info=[{
                    "CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": column,
                    "Label": column, "Type": "date", "Precision": 0, "Scale": 0,
                    "Nullable": "UNKNOWN", "CaseSensitive": False}])
        return execution_id

    AthenaBackend.start_query_execution = start_query_execution
    try:
        backend = athena_backends["123456789012"]["eu-west-1"]
        already = set(backend.executions)
        tmp = tmp_path_factory.mktemp("dbt_athena_run")
        project = new_project(tmp, tmp / "unused-local-lake")
        # First build: the facts do not exist yet, so they are created (CTAS, partitioned).
        result = project.invoke("run", target="athena", lake_root=LAKE, run_date=RUN_DATE)
        assert result.success, failures(result)
        # Two days built earlier: one the daily run rebuilds (its partitions were removed from
        # the lake, so no rows come back for it), one it leaves alone.
        s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="eu-west-1")
        for day in (KEPT_DAY, REMOVED_DAY):
            prefix = f"curated/fct_daily_sales/sale_date={day}/"
            s3.put_object(Bucket="retailops-lake", Key=prefix + "data.parquet", Body=b"x")
            glue.create_partition(DatabaseName="retailops_marts", TableName="fct_daily_sales",
                                  PartitionInput={"Values": [day], "StorageDescriptor": {
                                      "Columns": [], "Location": f"{LAKE}/{prefix}"}})
        # Daily run: the facts exist, so their days are overwritten (insert_overwrite), the
        # rebuild days' partitions dropped first (clear_rebuilt_days).
        result = project.invoke("run", "--select", *FACT_MARTS, target="athena", lake_root=LAKE,
                                run_date=RUN_DATE,
                                env={"RETAILOPS_REBUILD_DAYS": f"{REMOVED_DAY},{RUN_DATE}"})
        assert result.success, failures(result)
    finally:
        AthenaBackend.start_query_execution = original
    partitions = glue.get_partitions(DatabaseName="retailops_marts", TableName="fct_daily_sales")
    AFTER_DAILY["partitions"] = sorted(p["Values"][0] for p in partitions["Partitions"])
    listed = s3.list_objects_v2(Bucket="retailops-lake", Prefix="curated/fct_daily_sales/")
    AFTER_DAILY["files"] = sorted(o["Key"] for o in listed.get("Contents", []))
    return [e.query for key, e in backend.executions.items() if key not in already]


def _exists(glue, database: str, name: str) -> bool:  # noqa: ANN001
    try:
        glue.get_table(DatabaseName=database, Name=name)
        return True
    except glue.exceptions.EntityNotFoundException:
        return False


def test_a_daily_run_drops_the_partitions_of_its_rebuild_days(athena_statements: list[str]) -> None:
    # The removed day's partition and files are gone although no rows came back for it;
    # a day outside the rebuild set is untouched.
    assert AFTER_DAILY["partitions"] == [KEPT_DAY]
    assert AFTER_DAILY["files"] == [f"curated/fct_daily_sales/sale_date={KEPT_DAY}/data.parquet"]
    text = "\n".join(" ".join(sql.split()) for sql in athena_statements)
    assert f"where partition_dt in ('{RUN_DATE}', '{REMOVED_DAY}')" in text or (
        f"where partition_dt in ('{REMOVED_DAY}', '{RUN_DATE}')" in text)


def test_statements_sent_to_athena_pass_the_check(athena_statements: list[str]) -> None:
    problems = {sql[:160]: athena_problems(sql) for sql in athena_statements}
    assert {head: found for head, found in problems.items() if found} == {}


def test_run_creates_views_parquet_tables_and_day_partitions(athena_statements: list[str]) -> None:
    text = "\n".join(" ".join(sql.split()) for sql in athena_statements)
    for name in STAGING_VIEWS:
        assert f'create or replace view "awsdatacatalog"."retailops_staging"."{name}"' in text
    for name in TABLE_MARTS:
        assert f'create table "awsdatacatalog"."retailops_marts"."{name}"' in text
        assert f"external_location='{LAKE}/curated/{name}'" in text
    for name, column in zip(FACT_MARTS, ("sale_date", "snapshot_date")):
        # insert_overwrite: build the day in a temporary table, find its partitions, insert.
        assert f'create table "awsdatacatalog"."retailops_marts"."{name}"' in text
        assert f"external_location='{LAKE}/curated/{name}'" in text
        assert f"partitioned_by=ARRAY['{column}']" in text
        assert f'create table "awsdatacatalog"."retailops_marts"."{name}__dbt_tmp"' in text
        assert f'select distinct {column} from "awsdatacatalog"."retailops_marts"."{name}__dbt_tmp"' in text
        assert f'insert into "awsdatacatalog"."retailops_marts"."{name}"' in text
    # The daily run rebuilds its rebuild days (the run date and a removed day here).
    assert f"where partition_dt in ('{REMOVED_DAY}', '{RUN_DATE}')" in text
    assert "format='parquet'" in text and "read_csv" not in text


@pytest.mark.parametrize("sql, construct", [
    ("select x::integer from t", "'::' cast"),
    ("select strptime(a, '%Y') from t", "strptime()"),
    ("select * from read_csv('s3://b/x.csv')", "read_csv()"),
    ("select range from range(date '2024-07-01', date '2024-08-01', interval 1 day)", "range()"),
    ("select * exclude (a) from t", "SELECT * EXCLUDE"),
    ("select a from t qualify row_number() over (partition by a) = 1", "QUALIFY"),
    ("select isodow(d), dayname(d) from t", "isodow()"),
    ("select list_value(1, 2)", "list_* function"),
])
def test_the_check_catches_duckdb_only_sql(sql: str, construct: str) -> None:
    assert construct in duckdb_only_constructs(sql)


def test_the_check_passes_trino_forms_and_ignores_literals() -> None:
    sql = ("select try_cast(x as integer), day_of_week(d), date_format(d, '%W'), "
           "'read_csv(::)' as note from unnest(sequence(date '2024-07-01', date '2024-07-03', "
           "interval '1' day)) as days (d)")
    assert athena_problems(sql) == []


def test_a_first_build_writes_each_fact_in_batches_of_at_most_100_days(
        athena_statements: list[str]) -> None:
    # Athena writes at most 100 partitions per statement. The first build (a fact created
    # whole) is staged unpartitioned, then written in batches, instead of a single CTAS that
    # would fail with TOO_MANY_OPEN_PARTITIONS and be paid for before dbt-athena retries.
    for name, column in zip(FACT_MARTS, ("sale_date", "snapshot_date")):
        target = f'"awsdatacatalog"."retailops_marts"."{name}"'
        staged = f'"awsdatacatalog"."retailops_marts"."{name}__tmp_not_partitioned"'
        flat = [" ".join(sql.split()) for sql in athena_statements]
        assert any(f"create table {staged}" in sql for sql in flat)
        writes = [sql for sql in flat if (f"create table {target} " in sql
                                          or f"insert into {target} " in sql) and staged in sql]
        batches = [re.findall(rf"{column}=DATE'([0-9-]+)'", sql) for sql in writes]
        assert len(batches) == 2, writes
        assert all(0 < len(days) <= 100 for days in batches), [len(d) for d in batches]
        assert sorted(d for days in batches for d in days) == BATCHED_DAYS
        single_ctas = [sql for sql in flat if f"create table {target} " in sql and staged not in sql]
        assert not single_ctas, "a fact was first created by one CTAS over every day"


def test_the_forecast_tests_run_as_athena_would_on_the_glue_tables(
        compiled: DbtProject, tmp_path) -> None:
    """The forecast source's tests, compiled for Athena, executed over the Glue tables of the
    catalog template (Parquet read by name, forecast_date from the projected path): silent on
    a clean forecast of the run's date, one row per broken row otherwise."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.athena_offline.harness import connect, register_glue_tables, trino_to_duckdb
    from tests.forecast_fixture import write_forecast

    lake, day = tmp_path / "lake", date.fromisoformat(RUN_DATE)
    category = {"P00001": "Dairy", "P00002": "Bakery"}
    write_forecast(lake, day, [("ST001", "P00001"), ("ST001", "P00002"), ("ST002", "P00001")],
                   category)
    # Another date, broken, that a run of RUN_DATE must not read.
    write_forecast(lake, day + timedelta(days=1), [("ST001", "P00001")], category,
                   models=["seasonal_naive", "seasonal_naive"])
    manifest = json.loads((compiled.target_path / "manifest.json").read_text())
    tests = {n["name"]: n["compiled_code"] for n in manifest["nodes"].values()
             if n["resource_type"] == "test" and "source.retailops.forecast.fct_demand_forecast"
             in " ".join(n["depends_on"]["nodes"])}
    assert len(tests) == 5

    def failing() -> dict[str, int]:
        con = connect()
        register_glue_tables(con, lake)
        con.execute('create table "retailops_marts"."dim_products" as select * from '
                    "(values ('P00001', 'Dairy'), ('P00002', 'Bakery')) t (product_id, category)")
        counts = {}
        for name, sql in tests.items():
            try:
                counts[name] = len(con.execute(trino_to_duckdb(sql)).fetchall())
            except duckdb.Error as error:  # pragma: no cover - the message is the point
                raise AssertionError(f"{name}: {error}\n{sql}") from error
        return {name: n for name, n in counts.items() if n}

    assert failing() == {}
    levels = lake / f"curated/fct_demand_forecast_levels/forecast_date={RUN_DATE}/forecast.parquet"
    rows = pq.read_table(levels).to_pylist()
    rows[0] = {**rows[0], "units": rows[0]["units"] + 1, "units_p90": rows[0]["units"] * 2}
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(levels)), levels)
    assert failing() == {"forecast_levels_are_bottom_up_sums": 1}
