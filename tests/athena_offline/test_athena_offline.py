"""The Athena path executed offline: the models compiled for the Athena target, transpiled
from Trino to DuckDB (harness.trino_to_duckdb), run in dependency order over the Glue tables
of deploy/cfn/02-catalog.yaml as their SerDes expose a landed lake (harness.register_glue_tables),
compute the same models as the DuckDB-target build of the same lake, frame for frame.

The lake carries a few hand-made raw values where Trino and DuckDB disagree (a decimal or
exponent quantity, padded and empty fields): both paths must stage them alike.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.athena_offline.harness import (
    connect,
    glue_tables,
    register_glue_tables,
    run_models,
    trino_to_duckdb,
)
from dbt_harness import (  # noqa: E402 (harness path)
    LAKE, DbtProject, athena_moto_endpoint, failures, land_lake, new_project)

LAST_DAY = "2024-07-04"
EDITED_DAY = "2024-07-02"
# Raw sale lines rewritten by hand: (column index in sales.csv, raw text, what Trino stages).
EDITS = {1: (4, "7.5", None), 2: (4, "1e1", None), 3: (4, " 3 ", 3), 4: (4, "", None),
         5: (5, "", None), 6: (4, "+2", 2)}
MARTS = ("dim_date", "dim_stores", "dim_products", "mart_supplier_performance",
         "fct_daily_sales", "fct_inventory_snapshots")
STAGING = ("stg_manifests", "stg_products", "stg_stores", "stg_suppliers", "stg_sales",
           "stg_inventory", "stg_shipments", "stg_defects", "stg_promotions")
FULL_BUILD = {"RETAILOPS_REBUILD_DAYS": "all"}


def _edit_sales(lake: Path) -> dict[int, int]:
    """Rewrite a few raw sale lines of EDITED_DAY (EDITS); return line number -> sale_id."""
    path = lake / "raw" / "sales" / f"dt={EDITED_DAY}" / "sales.csv"
    lines = path.read_text().splitlines()
    sale_ids = {}
    for number, (index, text, _) in EDITS.items():
        fields = lines[number].split(",")
        fields[index] = text
        sale_ids[number] = int(fields[0])
        lines[number] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    return sale_ids


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, int]]:
    """Four simulated days at scale 0.02, landed by the ingest's landing code, a few raw
    sale fields then edited."""
    root = land_lake(tmp_path_factory.mktemp("athena_offline") / "lake", date.fromisoformat(LAST_DAY),
                     scale=0.02)
    return root, _edit_sales(root)


@pytest.fixture(scope="module")
def duckdb_build(lake: tuple[Path, dict[int, int]], tmp_path_factory: pytest.TempPathFactory) -> DbtProject:
    """The DuckDB-target build of the lake (`dbt run`, a first build: every day)."""
    project = new_project(tmp_path_factory.mktemp("duckdb_target"), lake[0])
    result = project.invoke("run", run_date=LAST_DAY, env=FULL_BUILD)
    assert result.success, failures(result)
    return project


@pytest.fixture(scope="module")
def moto_endpoint() -> str:
    """moto's S3 and Glue, shared with tests/dbt/test_athena_compile.py (reset before and
    after, so either module may run first)."""
    with athena_moto_endpoint() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def athena_manifest(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every model compiled for the Athena target against moto's Glue (nothing built yet:
    the first-build, non-incremental form)."""
    tmp = tmp_path_factory.mktemp("athena_target")
    project = new_project(tmp, tmp / "unused-local-lake")
    result = project.invoke("compile", "--select", "resource_type:model", target="athena",
                            lake_root=LAKE, run_date=LAST_DAY, env=FULL_BUILD)
    assert result.success, failures(result)
    return json.loads((project.target_path / "manifest.json").read_text())


@pytest.fixture(scope="module")
def athena_path(lake: tuple[Path, dict[int, int]], athena_manifest: dict) -> duckdb.DuckDBPyConnection:
    """The Athena-compiled models run on DuckDB over the Glue tables of the lake."""
    con = connect()
    register_glue_tables(con, lake[0])
    run_models(con, athena_manifest)
    yield con
    con.close()


def _athena_frame(con: duckdb.DuckDBPyConnection, manifest: dict, name: str) -> pd.DataFrame:
    node = next(n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["name"] == name)
    return con.execute(f"select * from {node['relation_name']}").df()


def _duckdb_frame(project: DbtProject, name: str) -> pd.DataFrame:
    schema = "marts" if name in MARTS else "staging"
    return project.query(f'select * from "{schema}"."{name}"')


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in a canonical order: by every column, floats rounded for the order only."""
    key = frame.copy()
    for column in key.columns:
        if pd.api.types.is_float_dtype(key[column]):
            key[column] = key[column].round(6)
        key[column] = key[column].astype(str)
    order = key.sort_values(list(key.columns)).index
    return frame.loc[order].reset_index(drop=True)


def assert_same_frame(athena: pd.DataFrame, local: pd.DataFrame) -> None:
    assert list(athena.columns) == list(local.columns)
    assert len(athena) == len(local) > 0
    pd.testing.assert_frame_equal(_sorted(athena), _sorted(local), check_dtype=False,
                                  rtol=1e-9, atol=1e-9)


def test_facts_run_in_their_first_build_form(athena_manifest: dict) -> None:
    facts = [n for n in athena_manifest["nodes"].values() if n["name"] in ("fct_daily_sales",
                                                                          "fct_inventory_snapshots")]
    assert len(facts) == 2
    for node in facts:
        assert node["config"]["materialized"] == "incremental"
        # No rebuild-day filter: the first build reads every complete day.
        assert "partition_dt in" not in node["compiled_code"]


@pytest.mark.parametrize("name", MARTS + STAGING)
def test_athena_sql_computes_the_duckdb_build(name: str, athena_path: duckdb.DuckDBPyConnection,
                                              athena_manifest: dict, duckdb_build: DbtProject) -> None:
    assert_same_frame(_athena_frame(athena_path, athena_manifest, name), _duckdb_frame(duckdb_build, name))


def _staged_sales(frame: pd.DataFrame, sale_ids: dict[int, int]) -> dict[int, dict[str, object]]:
    rows = frame.set_index("sale_id")
    return {line: {column: (None if pd.isna(rows.loc[sale_id, column]) else rows.loc[sale_id, column])
                   for column in ("quantity", "unit_price")} for line, sale_id in sale_ids.items()}


def test_integer_text_stages_as_trino_casts_it_on_both_paths(
        lake: tuple[Path, dict[int, int]], athena_path: duckdb.DuckDBPyConnection,
        athena_manifest: dict, duckdb_build: DbtProject) -> None:
    # Trino's try_cast of '7.5' or '1e1' to integer is NULL (DuckDB's alone: 8 and 10);
    # padded text is trimmed first, an empty field is NULL.
    sale_ids = lake[1]
    expected = {line: {"quantity": value if index == 4 else None, "unit_price": None}
                for line, (index, _, value) in EDITS.items()}
    for frame in (_athena_frame(athena_path, athena_manifest, "stg_sales"),
                  _duckdb_frame(duckdb_build, "stg_sales")):
        staged = _staged_sales(frame, sale_ids)
        assert {line: staged[line]["quantity"] for line in EDITS if EDITS[line][0] == 4} == {
            line: expected[line]["quantity"] for line in EDITS if EDITS[line][0] == 4}
        assert staged[5]["unit_price"] is None


@pytest.mark.parametrize("sql, trino, duckdb_alone", [
    ("select try_cast('7.5' as integer)", None, 8),
    ("select try_cast('1e1' as bigint)", None, 10),
    ("select try_cast(' 7' as integer)", None, 7),
    ("select try_cast('-7' as integer)", -7, -7),
    ("select try_cast(7.5e0 as integer)", 8, 8),
    ("select 7 / 2", 3, 3.5),
    ("select -7 / 2", -3, -3.5),
    ("select cast(7 as double) / 2", 3.5, 3.5),
    ("select regexp_extract('7d', '^([a-z]+)', 1)", None, ""),
    ("select regexp_extract('7d', '^([0-9]+)', 1)", "7", "7"),
    ("select date_diff('day', date '2024-07-01', date '2024-08-01')", 31, 31),
])
def test_transpiled_sql_computes_what_trino_computes(sql: str, trino: object, duckdb_alone: object) -> None:
    # Expected values: Trino's documented semantics (first) and DuckDB's (second), where they
    # differ the harness must give Trino's.
    con = connect()
    assert con.execute(trino_to_duckdb(sql)).fetchall() == [(trino,)]
    assert duckdb.connect().execute(sqlglot_plain(sql)).fetchall() == [(duckdb_alone,)]


def sqlglot_plain(sql: str) -> str:
    import sqlglot

    return sqlglot.transpile(sql, read="trino", write="duckdb")[0]


def test_a_failing_integer_cast_fails_as_on_trino() -> None:
    with pytest.raises(duckdb.Error, match="INVALID_CAST_ARGUMENT"):
        connect().execute(trino_to_duckdb("select cast(x as integer) from (values ('7.5')) t (x)")).fetchall()


def test_supplier_lead_times_are_whole_days_between_order_and_receipt(
        lake: tuple[Path, dict[int, int]], athena_path: duckdb.DuckDBPyConnection,
        athena_manifest: dict) -> None:
    # Expected from the raw CSVs with pandas: per delivery, last receipt minus first order.
    files = sorted((lake[0] / "raw" / "shipments").glob("*/*.csv"))
    raw = pd.concat(pd.read_csv(path, dtype=str) for path in files)
    deliveries = raw.drop_duplicates().groupby(["supplier_id", "shipment_id"]).agg(
        order_date=("order_date", "min"), received_date=("received_date", "max"))
    days = (pd.to_datetime(deliveries["received_date"]) - pd.to_datetime(deliveries["order_date"])).dt.days
    expected = days.groupby(level="supplier_id").mean()
    mart = _athena_frame(athena_path, athena_manifest, "mart_supplier_performance").set_index("supplier_id")
    measured = mart.loc[expected.index, "avg_lead_time_days"]
    assert len(expected) >= 3
    assert [round(v, 9) for v in measured] == [round(v, 9) for v in expected]


def test_calendar_functions_match_python(athena_path: duckdb.DuckDBPyConnection,
                                         athena_manifest: dict) -> None:
    days = _athena_frame(athena_path, athena_manifest, "dim_date")
    assert len(days) > 365
    for row in days.itertuples():
        day = row.date_day.date()
        assert (row.iso_day_of_week, row.day_name, row.month_name, row.iso_week, row.is_weekend,
                row.month_start_date.date()) == (
            day.isoweekday(), day.strftime("%A"), day.strftime("%B"), day.isocalendar().week,
            day.isoweekday() >= 6, day.replace(day=1))


def test_glue_sources_read_the_lake_as_the_serdes_do(lake: tuple[Path, dict[int, int]],
                                                     athena_path: duckdb.DuckDBPyConnection) -> None:
    root = lake[0]
    for table in ("sales", "inventory", "shipments"):
        # Headers skipped per file: each partition has the manifest's row count, dt from the path.
        counted = dict(athena_path.execute(
            f"select dt, count(*) from retailops_raw.{table} group by dt").fetchall())
        manifests = {p.parent.name.removeprefix("dt="): json.loads(p.read_text())["rows"]
                     for p in (root / "metadata" / "manifests" / table).glob("dt=*/manifest.json")}
        assert len(manifests) == 4
        assert {dt: counted.get(dt, 0) for dt in manifests} == manifests
    # Empty fields are '' (OpenCSVSerde), never NULL: the dimension ledger's dt column is empty.
    ledger = (root / "metadata/defects/dimensions/defects.csv").read_text().splitlines()
    assert athena_path.execute(
        "select count(*), count(*) filter (where defect_dt = '') from retailops_raw.dimension_defects"
    ).fetchall() == [(len(ledger) - 1, len(ledger) - 1)]
    assert len(ledger) > 1
    edited = lake[1][5]
    assert athena_path.execute(
        f"select unit_price from retailops_raw.sales where sale_id = '{edited}'").fetchall() == [("",)]
    # The sales file's trailing dt column is not declared: columns are taken by position.
    columns = [row[0] for row in athena_path.execute("describe retailops_raw.sales").fetchall()]
    assert columns == ["sale_id", "sold_at", "store_id", "product_id", "quantity", "unit_price",
                       "discount_pct", "dt"]


def _tables(*names: str) -> list:
    return [t for t in glue_tables() if t.name in names]


def test_only_projected_partitions_and_visible_files_are_read(tmp_path: Path) -> None:
    header = "sale_id,sold_at,store_id,product_id,quantity,unit_price,discount_pct,dt\n"
    for folder, name in (("dt=2024-07-01", "sales.csv"), ("dt=2024-06-30", "sales.csv"),
                         ("dt=latest", "sales.csv"), ("dt=2024-07-01", "_SUCCESS.csv"),
                         ("dt=2024-07-01", ".sales.csv.crc")):
        path = tmp_path / "raw" / "sales" / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + f"1,2024-07-01T08:00:00,ST001,P00001,1,2.5,0,{folder}\n")
    for table in ("sales", "returns"):
        path = tmp_path / "metadata" / "manifests" / table / "dt=2024-07-01" / "manifest.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"table": table, "dt": "2024-07-01", "rows": 1}) + "\n")
    con = connect()
    register_glue_tables(con, tmp_path, _tables("sales", "manifests"))
    # Before the projection's first day, not a date, hidden files: never read.
    assert con.execute("select dt, quantity from retailops_raw.sales").fetchall() == [("2024-07-01", "1")]
    # table_name is an enum projection: a folder for another table is not read.
    assert con.execute("select table_name, manifest_table, rows from retailops_raw.manifests").fetchall() == [
        ("sales", "sales", 1)]


def test_an_indented_manifest_is_not_one_record(tmp_path: Path) -> None:
    path = tmp_path / "metadata" / "manifests" / "sales" / "dt=2024-07-01" / "manifest.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"table": "sales", "dt": "2024-07-01", "rows": 3}, indent=2) + "\n")
    lines = len(path.read_text().splitlines())
    (manifests,) = _tables("manifests")
    con = connect()
    # As the catalog declares it: ignore.malformed.json makes each line a row of NULLs (the
    # partition then has no manifest: incomplete, left out by stg_manifests).
    if manifests.serde_parameters.get("ignore.malformed.json") == "true":
        register_glue_tables(con, tmp_path, [manifests])
        assert con.execute('select manifest_table, "rows" from retailops_raw.manifests').fetchall() == [
            (None, None)] * lines
    # Without it, the query fails, as HIVE_CURSOR_ERROR does on Athena.
    strict = dataclasses.replace(manifests, serde_parameters={
        k: v for k, v in manifests.serde_parameters.items() if k != "ignore.malformed.json"})
    register_glue_tables(con, tmp_path, [strict])
    with pytest.raises(duckdb.Error, match="HIVE_CURSOR_ERROR"):
        con.execute("select * from retailops_raw.manifests").fetchall()
    # The same record on one line is read.
    path.write_text(json.dumps({"table": "sales", "dt": "2024-07-01", "rows": 3}) + "\n")
    register_glue_tables(con, tmp_path, [strict])
    read = con.execute('select manifest_table, manifest_dt, "rows", dt from retailops_raw.manifests')
    assert read.fetchall() == [("sales", "2024-07-01", 3, "2024-07-01")]


def test_glue_tables_come_from_the_catalog_template() -> None:
    tables = {t.name: t for t in glue_tables("acme-prod")}
    assert set(tables) == {"products", "stores", "suppliers", "sales", "inventory", "shipments",
                           "promotions", "manifests", "defects", "dimension_defects",
                           "fct_demand_forecast", "fct_demand_forecast_levels",
                           "forecast_accuracy"}
    # The forecast marts (Parquet the forecast stage writes) live with the dbt marts.
    forecast = {"fct_demand_forecast", "fct_demand_forecast_levels", "forecast_accuracy"}
    assert {t.database for n, t in tables.items() if n not in forecast} == {"acme_prod_raw"}
    assert {tables[n].database for n in forecast} == {"acme_prod_marts"}
    assert tables["fct_demand_forecast"].partition_keys == ["forecast_date"]
    assert tables["forecast_accuracy"].partition_keys == ["backtest_date"]
    assert tables["manifests"].partition_keys == ["table_name", "dt"]
    assert tables["sales"].parameters["skip.header.line.count"] == "1"
