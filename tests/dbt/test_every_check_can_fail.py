"""Every dbt data test of the project fails on data broken on purpose, and only where broken.

One real ``dbt build`` on DuckDB over five simulated days (every test passes on that clean
data: the build must succeed). Then, for each data test, one case breaks the data the test
guards (a raw CSV or manifest of the lake, or a table of the warehouse), runs
``dbt test --select <that test>`` in-process and checks that dbt reports that test failed, and
that the rows it fails on (dbt's own compiled SQL, run on the warehouse) are exactly the rows
broken: one broken row per condition of a combined ``expression_is_true``, so every condition
is shown to bite. The lake files and the warehouse file are restored after each case.

A last test reads dbt's manifest: every data test of the project has a case here, so a test
added without proof that it can fail fails this module.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dbt_harness import DbtProject, failures, new_project

from tests.forecast_fixture import write_forecast

from retailops.warehouse.dbt_project import DBT_PROJECT_DIR, dbt_vars

DAY = "2024-07-02"
# The forecast marts (written by Python, not dbt): one clean forecast date in the lake.
FORECAST_DATE = date(2024, 7, 5)
FORECAST_FILE = f"curated/fct_demand_forecast/forecast_date={FORECAST_DATE}/forecast.parquet"
LEVELS_FILE = f"curated/fct_demand_forecast_levels/forecast_date={FORECAST_DATE}/forecast.parquet"


class Breakage:
    """Changes to one lake and one warehouse file, undone by ``restore``."""

    def __init__(self, project: DbtProject, pristine_warehouse: Path) -> None:
        self.project = project
        self.pristine_warehouse = pristine_warehouse
        self.saved: dict[Path, bytes] = {}

    # -- reading the clean data --------------------------------------------------------
    def rows(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.project.duckdb_path), read_only=True) as con:
            return con.execute(sql).fetchall()

    # -- breaking ----------------------------------------------------------------------
    def sql(self, *statements: str) -> None:
        with duckdb.connect(str(self.project.duckdb_path)) as con:
            for statement in statements:
                con.execute(statement)

    def _save(self, path: Path) -> None:
        self.saved.setdefault(path, path.read_bytes())

    def csv_rows(self, relative: str) -> tuple[list[str], list[dict[str, str]]]:
        path = self.project.lake_root / relative
        reader = csv.DictReader(io.StringIO(path.read_text()))
        return list(reader.fieldnames or []), list(reader)

    def append_csv(self, relative: str, rows: list[dict[str, str]]) -> None:
        """Append rows to a CSV of the lake (columns by name, the rest empty)."""
        path = self.project.lake_root / relative
        self._save(path)
        header, _ = self.csv_rows(relative)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
        writer.writerows({name: row.get(name, "") for name in header} for row in rows)
        with path.open("a") as handle:
            handle.write(out.getvalue())

    def edit_json(self, relative: str, **changes: Any) -> None:
        path = self.project.lake_root / relative
        self._save(path)
        document = json.loads(path.read_text())
        document.update(changes)
        path.write_text(json.dumps(document))

    def parquet_rows(self, relative: str) -> tuple[pa.Schema, list[dict[str, Any]]]:
        table = pq.read_table(self.project.lake_root / relative)
        return table.schema, table.to_pylist()

    def write_parquet(self, relative: str, rows: list[dict[str, Any]]) -> None:
        """Replace a Parquet file of the lake by these rows (same schema)."""
        path = self.project.lake_root / relative
        self._save(path)
        schema, _ = self.parquet_rows(relative)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)

    def restore(self) -> None:
        for path, content in self.saved.items():
            path.write_bytes(content)
        self.saved.clear()
        wal = Path(str(self.project.duckdb_path) + ".wal")
        wal.unlink(missing_ok=True)
        shutil.copyfile(self.pristine_warehouse, self.project.duckdb_path)


@dataclass
class Case:
    """A data test, how to break its data, and the key of each row it must fail on."""

    test: str
    kind: str
    key: tuple[str, ...]
    # Breaks the data; returns the keys of the rows the test must report.
    breaks: Callable[[Breakage], list[tuple]]


CASES: list[Case] = []


def case(test: str, kind: str, *key: str) -> Callable:
    def register(breaks: Callable[[Breakage], list[tuple]]) -> Callable:
        CASES.append(Case(test, kind, key, breaks))
        return breaks
    return register


def first_sales(b: Breakage, n: int) -> list[int]:
    return [r[0] for r in b.rows(f"select sale_id from staging.base_sales where dt = '{DAY}' "
                                 f"order by sale_id limit {n}")]


def inventory_cells(b: Breakage, n: int) -> list[tuple[str, str]]:
    return b.rows(f"select store_id, product_id from staging.base_inventory where dt = '{DAY}' "
                  f"order by store_id, product_id limit {n}")


def busiest_shipment_day(b: Breakage) -> str:
    return b.rows("select dt from staging.base_shipments group by dt order by count(*) desc, dt "
                  "limit 1")[0][0]


def shipment_lines(b: Breakage, n: int) -> list[tuple[int, int]]:
    lines = b.rows(f"select distinct shipment_id, line_number from staging.base_shipments "
                   f"order by 1, 2 limit {n}")
    assert len(lines) == n, f"the tiny lake has fewer than {n} shipment lines"
    return lines


def fact_keys(b: Breakage, model: str, date_column: str, n: int) -> list[tuple]:
    """(day, store, product) of the first n rows of a fact mart (counts known, for inventory)."""
    known = " where quantity_on_hand is not null" if model == "fct_inventory_snapshots" else ""
    return b.rows(f"select cast({date_column} as varchar), store_id, product_id from "
                  f"marts.{model}{known} order by 1, 2, 3 limit {n}")


# ---- raw sources --------------------------------------------------------------------------

@case("source_accepted_values_raw_products_is_perishable__true__false", "accepted_values",
      "value_field")
def _(b: Breakage) -> list[tuple]:
    _, products = b.csv_rows("raw/products/products.csv")
    b.append_csv("raw/products/products.csv", [{**products[0], "product_id": "P90001",
                                                "is_perishable": "yes"}])
    return [("yes",)]


@case("raw_manifests_name_the_partition_they_commit", "expression_is_true", "table_name", "dt")
def _(b: Breakage) -> list[tuple]:
    # A manifest naming another day, and one naming another table, each in a real folder.
    b.edit_json("metadata/manifests/sales/dt=2024-07-03/manifest.json", dt="2024-07-04")
    b.edit_json("metadata/manifests/inventory/dt=2024-07-03/manifest.json", table="sales")
    return [("sales", "2024-07-03"), ("inventory", "2024-07-03")]


# ---- base models ----------------------------------------------------------------------------

@case("row_counts_match_manifest_base_sales_sales", "row_counts_match_manifest", "partition_dt")
def _(b: Breakage) -> list[tuple]:
    (sale,) = first_sales(b, 1)
    b.sql(f"delete from staging.base_sales where sale_id = {sale}")  # a line lost in landing
    return [(DAY,)]


@case("row_counts_match_manifest_base_inventory_inventory", "row_counts_match_manifest",
      "partition_dt")
def _(b: Breakage) -> list[tuple]:
    # The manifest promises one row more than the partition holds.
    b.sql("update staging.stg_manifests set row_count = row_count + 1 "
          "where table_name = 'inventory' and partition_dt = '2024-07-03'")
    return [("2024-07-03",)]


@case("row_counts_match_manifest_base_shipments_shipments", "row_counts_match_manifest",
      "partition_dt")
def _(b: Breakage) -> list[tuple]:
    # A committed partition missing from the base table altogether (0 rows loaded).
    day = busiest_shipment_day(b)
    b.sql(f"delete from staging.base_shipments where dt = '{day}'")
    return [(day,)]


@case("not_empty_base_sales_", "not_empty", "row_count")
def _(b: Breakage) -> list[tuple]:
    b.sql("delete from staging.base_sales")
    return [(0,)]


# ---- staging ----------------------------------------------------------------------------------

@case("unique_combination_of_columns_stg_manifests_table_name__partition_dt",
      "unique_combination_of_columns", "table_name", "partition_dt")
def _(b: Breakage) -> list[tuple]:
    b.sql("insert into staging.stg_manifests select * from staging.stg_manifests "
          f"where table_name = 'sales' and partition_dt = '{DAY}'")
    return [("sales", DAY)]


@case("stg_manifests_valid_table_date_rows_sha256", "expression_is_true", "table_name",
      "partition_dt")
def _(b: Breakage) -> list[tuple]:
    b.sql("update staging.stg_manifests set table_name = 'returns' "
          "where table_name = 'sales' and partition_dt = '2024-07-01'",
          "update staging.stg_manifests set partition_date = null "
          "where table_name = 'inventory' and partition_dt = '2024-07-01'",
          "update staging.stg_manifests set row_count = -1 "
          "where table_name = 'shipments' and partition_dt = '2024-07-03'",
          "update staging.stg_manifests set sha256 = null "
          f"where table_name = 'sales' and partition_dt = '{DAY}'")
    return [("returns", "2024-07-01"), ("inventory", "2024-07-01"), ("shipments", "2024-07-03"),
            ("sales", DAY)]


@case("unique_stg_products_product_id", "unique", "unique_field")
def _(b: Breakage) -> list[tuple]:
    _, products = b.csv_rows("raw/products/products.csv")
    b.append_csv("raw/products/products.csv", [products[0]])
    return [(products[0]["product_id"],)]


@case("relationships_stg_products_supplier_id__supplier_id__ref_stg_suppliers_", "relationships",
      "from_field")
def _(b: Breakage) -> list[tuple]:
    _, products = b.csv_rows("raw/products/products.csv")
    b.append_csv("raw/products/products.csv", [{**products[0], "product_id": "P90001",
                                                "supplier_id": "SUP999"}])
    return [("SUP999",)]


@case("stg_products_valid_names_prices_flags", "expression_is_true", "product_id")
def _(b: Breakage) -> list[tuple]:
    _, products = b.csv_rows("raw/products/products.csv")
    good = {**products[0], "is_perishable": "false"}
    b.append_csv("raw/products/products.csv", [
        {**good, "product_id": ""},
        {**good, "product_id": "P90002", "product_name": ""},
        {**good, "product_id": "P90003", "category": " "},
        {**good, "product_id": "P90004", "unit_cost": "0"},
        {**good, "product_id": "P90005", "list_price": "n/a"},
        {**good, "product_id": "P90006", "is_perishable": ""},
    ])
    return [(None,), ("P90002",), ("P90003",), ("P90004",), ("P90005",), ("P90006",)]


@case("unique_stg_stores_store_id", "unique", "unique_field")
def _(b: Breakage) -> list[tuple]:
    _, stores = b.csv_rows("raw/stores/stores.csv")
    b.append_csv("raw/stores/stores.csv", [stores[0]])
    return [(stores[0]["store_id"],)]


@case("stg_stores_valid_names_type_cluster_size_opening", "expression_is_true", "store_id")
def _(b: Breakage) -> list[tuple]:
    _, stores = b.csv_rows("raw/stores/stores.csv")
    good = stores[0]
    broken = [{"store_id": ""}, {"store_name": ""}, {"city": ""}, {"region": ""},
              {"store_type": "mall"}, {"cluster": "9"}, {"size_sqft": "0"}, {"opened_date": "soon"}]
    rows = [{**good, "store_id": f"ST9{i:02d}", **change} for i, change in enumerate(broken)]
    b.append_csv("raw/stores/stores.csv", rows)
    return [(row["store_id"] or None,) for row in rows]


@case("unique_stg_suppliers_supplier_id", "unique", "unique_field")
def _(b: Breakage) -> list[tuple]:
    _, suppliers = b.csv_rows("raw/suppliers/suppliers.csv")
    b.append_csv("raw/suppliers/suppliers.csv", [suppliers[0]])
    return [(suppliers[0]["supplier_id"],)]


@case("stg_suppliers_valid_name_lead_time_on_time_rate", "expression_is_true", "supplier_id")
def _(b: Breakage) -> list[tuple]:
    good = {"supplier_name": "Test Foods", "country": "USA", "lead_time": "7 days",
            "on_time_rate": "92%"}
    broken = [{"supplier_id": ""}, {"supplier_name": ""}, {"lead_time": "0 days"},
              {"lead_time": "soon"}, {"on_time_rate": "150%"}]
    rows = [{**good, "supplier_id": f"SUP9{i:02d}", **change} for i, change in enumerate(broken)]
    b.append_csv("raw/suppliers/suppliers.csv", rows)
    return [(row["supplier_id"] or None,) for row in rows]


@case("unique_stg_sales_sale_id", "unique", "unique_field")
def _(b: Breakage) -> list[tuple]:
    (sale,) = first_sales(b, 1)
    b.sql(f"insert into staging.base_sales select * from staging.base_sales where sale_id = {sale}")
    return [(sale,)]


@case("relationships_stg_sales_store_id__store_id__ref_stg_stores_", "relationships", "from_field")
def _(b: Breakage) -> list[tuple]:
    (sale,) = first_sales(b, 1)
    b.sql(f"update staging.base_sales set store_id = 'ST999' where sale_id = {sale}")
    return [("ST999",)]


@case("relationships_stg_sales_product_id__product_id__ref_stg_products_", "relationships",
      "from_field")
def _(b: Breakage) -> list[tuple]:
    (sale,) = first_sales(b, 1)
    b.sql(f"update staging.base_sales set product_id = 'P99999' where sale_id = {sale}")
    return [("P99999",)]


@case("stg_sales_valid_keys_time_quantity_price_discount", "expression_is_true", "sale_id")
def _(b: Breakage) -> list[tuple]:
    sales = first_sales(b, 7)
    changes = ["sale_id = null", "store_id = null", "product_id = null",
               "sold_at = sold_at + interval 1 day", "quantity = 0", "unit_price = 0",
               "discount_pct = 0.6"]
    b.sql(*(f"update staging.base_sales set {change} where sale_id = {sale}"
            for sale, change in zip(sales, changes)))
    return [(None,)] + [(sale,) for sale in sales[1:]]


@case("unique_combination_of_columns_stg_inventory_snapshot_date__store_id__product_id",
      "unique_combination_of_columns", "store_id", "product_id")
def _(b: Breakage) -> list[tuple]:
    ((store, product),) = inventory_cells(b, 1)
    b.sql(f"insert into staging.base_inventory select * from staging.base_inventory "
          f"where dt = '{DAY}' and store_id = '{store}' and product_id = '{product}'")
    return [(store, product)]


@case("stg_inventory_valid_keys_date_counts", "expression_is_true", "store_id", "product_id")
def _(b: Breakage) -> list[tuple]:
    cells = inventory_cells(b, 6)
    changes = ["store_id = null", "product_id = null", "snapshot_date = snapshot_date + 1",
               "quantity_on_hand = null", "quantity_on_order = -1", "reorder_point = -1"]
    b.sql(*(f"update staging.base_inventory set {change} where dt = '{DAY}' "
            f"and store_id = '{store}' and product_id = '{product}'"
            for (store, product), change in zip(cells, changes)))
    expected = [(None, cells[0][1]), (cells[1][0], None)]
    return expected + [tuple(cell) for cell in cells[2:]]


@case("unique_combination_of_columns_stg_shipments_shipment_id__line_number",
      "unique_combination_of_columns", "shipment_id", "line_number")
def _(b: Breakage) -> list[tuple]:
    # Not an exact duplicate (those are collapsed): the same line with another quantity.
    ((shipment, line),) = shipment_lines(b, 1)
    b.sql("insert into staging.base_shipments select * replace (quantity_ordered + 1 as "
          f"quantity_ordered) from staging.base_shipments where shipment_id = {shipment} "
          f"and line_number = {line} limit 1")
    return [(shipment, line)]


@case("relationships_stg_shipments_supplier_id__supplier_id__ref_stg_suppliers_", "relationships",
      "from_field")
def _(b: Breakage) -> list[tuple]:
    ((shipment, line),) = shipment_lines(b, 1)
    b.sql(f"update staging.base_shipments set supplier_id = 'SUP999' where shipment_id = {shipment} "
          f"and line_number = {line}")
    return [("SUP999",)]


@case("stg_shipments_valid_keys_dates_quantities", "expression_is_true", "shipment_id",
      "line_number")
def _(b: Breakage) -> list[tuple]:
    lines = shipment_lines(b, 10)
    changes = ["shipment_id = null", "line_number = 0", "supplier_id = null", "store_id = null",
               "product_id = null", "received_date = received_date + 1",
               "order_date = expected_date",
               # order before its due date but not before its arrival (an early delivery)
               "expected_date = received_date + 5, order_date = received_date",
               "quantity_ordered = 0, quantity_received = 0",
               "quantity_received = quantity_ordered + 1"]
    b.sql(*(f"update staging.base_shipments set {change} where shipment_id = {shipment} "
            f"and line_number = {line}" for (shipment, line), change in zip(lines, changes)))
    expected = [(None, lines[0][1]), (lines[1][0], 0)]
    return expected + [tuple(line) for line in lines[2:]]


@case("stg_defects_valid_table_type_key", "expression_is_true", "record_key")
def _(b: Breakage) -> list[tuple]:
    b.append_csv(f"metadata/defects/dt={DAY}/defects.csv", [
        {"dt": DAY, "table_name": "sales", "defect_type": "negative_on_hand", "record_key": "K1"},
        {"dt": DAY, "table_name": "returns", "defect_type": "null_discount", "record_key": "K2"},
        {"dt": DAY, "table_name": "sales", "defect_type": "null_discount", "record_key": ""},
    ])
    b.append_csv("metadata/defects/dimensions/defects.csv", [
        {"table_name": "suppliers", "defect_type": "missing_supplier", "record_key": "K4"}])
    return [("K1",), ("K2",), (None,), ("K4",)]


# ---- the promotion plan (stg_promotions is a view over the CSVs) --------------------------------

PLAN_DAY = "2024-07-01"  # the one publication of the five-day lake


def editable_promotions(b: Breakage) -> dict[str, Any]:
    """Turn the view stg_promotions into a table of its rows (the warehouse is restored after
    the case), so rows can be added as a broken landing would show them; returns a clean row."""
    b.sql("create table staging.promotions_rows as select * from staging.stg_promotions",
          "drop view staging.stg_promotions",
          "create table staging.stg_promotions as select * from staging.promotions_rows")
    with duckdb.connect(str(b.project.duckdb_path), read_only=True) as con:
        cursor = con.execute("select * from staging.stg_promotions order by product_id limit 1")
        names = [d[0] for d in cursor.description]
        return dict(zip(names, cursor.fetchone()))


def add_promotions(b: Breakage, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        b.sql("insert into staging.stg_promotions values (?, ?, ?, ?, ?, ?)".replace(
            "?, ?, ?, ?, ?, ?", ", ".join(
                "null" if row[c] is None else f"'{row[c]}'" for c in (
                    "published_date", "product_id", "start_date", "end_date", "discount_pct",
                    "partition_dt"))))


@case("row_counts_match_manifest_stg_promotions_partition_dt__promotions",
      "row_counts_match_manifest", "partition_dt")
def _(b: Breakage) -> list[tuple]:
    # The manifest promises a row the publication does not hold.
    b.sql("update staging.stg_manifests set row_count = row_count + 1 "
          f"where table_name = 'promotions' and partition_dt = '{PLAN_DAY}'")
    return [(PLAN_DAY,)]


@case("stg_promotions_valid_product_week_discount", "expression_is_true", "product_id")
def _(b: Breakage) -> list[tuple]:
    good = editable_promotions(b)
    broken = [
        {"product_id": None},
        {"published_date": "2024-07-08"},                            # not its partition
        {"published_date": "2024-07-02", "partition_dt": "2024-07-02"},  # not a Monday
        {"start_date": "2024-07-09", "end_date": "2024-07-15"},      # week not Monday..Sunday
        {"end_date": "2024-07-13"},                                   # six days
        {"start_date": "2024-08-05", "end_date": "2024-08-11"},      # beyond the 5 weeks
        {"discount_pct": 0},
        {"discount_pct": 1},
    ]
    rows = [{**good, "product_id": f"P9{i:04d}", **change} for i, change in enumerate(broken)]
    add_promotions(b, rows)
    return [(row["product_id"],) for row in rows]


@case("unique_combination_of_columns_stg_promotions_published_date__product_id__start_date",
      "unique_combination_of_columns", "published_date", "product_id", "start_date")
def _(b: Breakage) -> list[tuple]:
    good = editable_promotions(b)
    add_promotions(b, [good])  # a row landed twice
    return [(good["published_date"], good["product_id"], good["start_date"])]


@case("relationships_stg_promotions_product_id__product_id__ref_stg_products_", "relationships",
      "from_field")
def _(b: Breakage) -> list[tuple]:
    good = editable_promotions(b)
    add_promotions(b, [{**good, "product_id": "P99999"}])
    return [("P99999",)]


# ---- marts ------------------------------------------------------------------------------------

for _model, _date in (("fct_daily_sales", "sale_date"), ("fct_inventory_snapshots", "snapshot_date")):

    def _grain(b: Breakage, model: str = _model, date_column: str = _date) -> list[tuple]:
        # A day inserted twice by an incremental run.
        ((day, store, product),) = fact_keys(b, model, date_column, 1)
        b.sql(f"insert into marts.{model} select * from marts.{model} where "
              f"{date_column} = date '{day}' and store_id = '{store}' and product_id = '{product}'")
        return [(day, store, product)]

    case(f"unique_combination_of_columns_{_model}_{_date}__store_id__product_id",
         "unique_combination_of_columns", _date, "store_id", "product_id")(_grain)

    # A daily run does not rebuild the dimensions: a stored dimension can lack what a new
    # fact row names.
    def _store(b: Breakage, model: str = _model, date_column: str = _date) -> list[tuple]:
        ((_, store, _),) = fact_keys(b, model, date_column, 1)
        b.sql(f"delete from marts.dim_stores where store_id = '{store}'")
        return [(store,)]

    def _product(b: Breakage, model: str = _model, date_column: str = _date) -> list[tuple]:
        ((_, _, product),) = fact_keys(b, model, date_column, 1)
        b.sql(f"delete from marts.dim_products where product_id = '{product}'")
        return [(product,)]

    def _calendar(b: Breakage) -> list[tuple]:
        b.sql(f"delete from marts.dim_date where date_day = date '{DAY}'")
        return [(DAY,)]

    case(f"relationships_{_model}_store_id__store_id__ref_dim_stores_", "relationships",
         "from_field")(_store)
    case(f"relationships_{_model}_product_id__product_id__ref_dim_products_", "relationships",
         "from_field")(_product)
    case(f"relationships_{_model}_{_date}__date_day__ref_dim_date_", "relationships",
         "from_field")(_calendar)


@case("fct_daily_sales_cost_known", "expression_is_true", "sale_date", "store_id", "product_id")
def _(b: Breakage) -> list[tuple]:
    # What a sale of a product whose unit cost went missing from products.csv computes.
    ((day, store, product),) = fact_keys(b, "fct_daily_sales", "sale_date", 1)
    b.sql(f"update marts.fct_daily_sales set cost = null, profit = null where sale_date = "
          f"date '{day}' and store_id = '{store}' and product_id = '{product}'")
    return [(day, store, product)]


@case("fct_inventory_snapshots_value_known", "expression_is_true", "snapshot_date", "store_id",
      "product_id")
def _(b: Breakage) -> list[tuple]:
    keys = fact_keys(b, "fct_inventory_snapshots", "snapshot_date", 2)
    b.sql(*(f"update marts.fct_inventory_snapshots set inventory_value = {value} where "
            f"snapshot_date = date '{day}' and store_id = '{store}' and product_id = '{product}'"
            for (day, store, product), value in zip(keys, ("null", "-1"))))
    return keys


@case("unique_mart_supplier_performance_supplier_id", "unique", "unique_field")
def _(b: Breakage) -> list[tuple]:
    (supplier,) = b.rows("select min(supplier_id) from marts.mart_supplier_performance")[0]
    b.sql("insert into marts.mart_supplier_performance select * from "
          f"marts.mart_supplier_performance where supplier_id = '{supplier}'")
    return [(supplier,)]


@case("mart_supplier_performance_valid_promises", "expression_is_true", "supplier_name")
def _(b: Breakage) -> list[tuple]:
    rows = b.rows("select supplier_id, supplier_name from marts.mart_supplier_performance "
                  "order by supplier_id limit 3")
    changes = ["supplier_id = null", "promised_lead_time_days = 0", "promised_on_time_rate = 1.5"]
    b.sql(*(f"update marts.mart_supplier_performance set {change} where supplier_id = '{sid}'"
            for (sid, _), change in zip(rows, changes)))
    return [(name,) for _, name in rows]


# ---- forecast marts (source tests, run by the forecast stage) -------------------------------

def _broken_copies(base: dict[str, Any], changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of a clean row, each with its own model name and one thing broken."""
    return [{**base, "model": f"broken{n}", **change} for n, change in enumerate(changes)]


@case("forecast_one_row_per_key", "unique_combination_of_columns", "forecast_date",
      "target_date", "store_id", "product_id", "model")
def _(b: Breakage) -> list[tuple]:
    _, rows = b.parquet_rows(FORECAST_FILE)
    b.write_parquet(FORECAST_FILE, rows + [rows[3]])
    r = rows[3]
    return [(FORECAST_DATE, r["target_date"], r["store_id"], r["product_id"], r["model"])]


@case("forecast_valid_units", "expression_is_true", "model")
def _(b: Breakage) -> list[tuple]:
    _, rows = b.parquet_rows(FORECAST_FILE)
    base = {**rows[0], "units": 2.0, "units_p10": 1.0, "units_p90": 3.0}
    broken = _broken_copies(base, [
        {"units": -1.0, "units_p10": -2.0},                   # negative
        {"units_p10": 2.5},                                   # p10 above the point
        {"units_p90": 1.5},                                   # p90 below the point
        {"target_date": FORECAST_DATE},                       # not ahead
        {"target_date": FORECAST_DATE + timedelta(days=15)},  # beyond the horizon
        {"store_id": None},
        {"product_id": None},
    ])
    broken.append({**base, "model": None})
    b.write_parquet(FORECAST_FILE, rows + broken)
    return [(row["model"],) for row in broken]


@case("forecast_levels_one_row_per_key", "unique_combination_of_columns", "forecast_date",
      "target_date", "level", "level_key", "model")
def _(b: Breakage) -> list[tuple]:
    _, rows = b.parquet_rows(LEVELS_FILE)
    b.write_parquet(LEVELS_FILE, rows + [rows[5]])
    r = rows[5]
    return [(FORECAST_DATE, r["target_date"], r["level"], r["level_key"], r["model"])]


@case("forecast_levels_valid", "expression_is_true", "model")
def _(b: Breakage) -> list[tuple]:
    _, rows = b.parquet_rows(LEVELS_FILE)
    base = {**rows[0], "level": "category", "level_key": "Dairy", "units": 2.0,
            "units_p10": 1.0, "units_p90": 3.0}
    broken = _broken_copies(base, [
        {"units": -1.0, "units_p10": -2.0},
        {"units_p10": 2.5},
        {"units_p90": 1.5},
        {"target_date": FORECAST_DATE},
        {"target_date": FORECAST_DATE + timedelta(days=15)},
        {"level": "chain", "level_key": "Dairy"},
        {"level": "store", "level_key": "ST001|Dairy"},
        {"level": "category", "level_key": "chain"},
        {"level": "store_category", "level_key": "ST001"},
        {"level": "region", "level_key": "North"},
    ])
    broken.append({**base, "model": None})
    b.write_parquet(LEVELS_FILE, rows + broken)
    return [(row["model"],) for row in broken]


@case("forecast_levels_are_bottom_up_sums", "forecast_levels_add_up", "target_date", "level",
      "level_key", "model")
def _(b: Breakage) -> list[tuple]:
    _, levels = b.parquet_rows(LEVELS_FILE)
    _, bottom = b.parquet_rows(FORECAST_FILE)
    ahead = lambda n: FORECAST_DATE + timedelta(days=n)  # noqa: E731
    # A level's point forecast off its sum, and a level key no bottom row adds up to.
    chain = next(i for i, r in enumerate(levels) if r["level"] == "chain"
                 and r["model"] == "lightgbm" and r["target_date"] == ahead(1))
    levels[chain] = {**levels[chain], "units": levels[chain]["units"] + 1.0}
    levels.append({**levels[chain], "level": "category", "level_key": "No such category"})
    # One bottom-level forecast changed: the four levels it adds up to no longer match.
    cell = next(i for i, r in enumerate(bottom) if r["model"] == "seasonal_naive"
                and r["target_date"] == ahead(3))
    bottom[cell] = {**bottom[cell], "units": bottom[cell]["units"] + 5.0}
    b.write_parquet(LEVELS_FILE, levels)
    b.write_parquet(FORECAST_FILE, bottom)
    store, product = bottom[cell]["store_id"], bottom[cell]["product_id"]
    (category,) = b.rows(f"select category from marts.dim_products where product_id = '{product}'")[0]
    return [(ahead(1), "chain", "chain", "lightgbm"),
            (ahead(1), "category", "No such category", "lightgbm"),
            *[(ahead(3), level, key, "seasonal_naive") for level, key in (
                ("store_category", f"{store}|{category}"), ("category", category),
                ("store", store), ("chain", "chain"))]]


# ---- the module ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def warehouse(module_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """One clean build of five simulated days; every data test passes on it."""
    project = new_project(tmp_path_factory.mktemp("dbt_every_check"), module_lake)
    result = project.invoke("build")
    assert result.success, f"the clean build failed: {failures(result)}"
    # The forecast stage's part: a clean forecast of a few cells, and the source's tests on it
    # (the default selector leaves them out of a build: a fresh lake has no forecast).
    with duckdb.connect(str(project.duckdb_path), read_only=True) as con:
        category = dict(con.execute("select product_id, category from marts.dim_products")
                        .fetchall())
        cells = con.execute("select s.store_id, p.product_id from marts.dim_stores s cross join "
                            "marts.dim_products p order by 1, 2 limit 12").fetchall()
    write_forecast(module_lake, FORECAST_DATE, cells, category)
    checked = project.invoke("test", "--select", "source:forecast+")
    assert checked.success, f"the clean forecast failed its tests: {failures(checked)}"
    pristine = project.duckdb_path.with_name("pristine.duckdb")
    shutil.copyfile(project.duckdb_path, pristine)
    passed = {r.node.name for r in [*result.result.results, *checked.result.results]
              if r.node.resource_type == "test" and str(r.status) == "pass"}
    # ... and a plain build never ran them.
    tests_of = lambda run: {r.node.name for r in run.result.results  # noqa: E731
                            if r.node.resource_type == "test"}
    assert len(tests_of(checked)) == 5 and not tests_of(result) & tests_of(checked)
    yield project, pristine, passed


def failing_rows(project: DbtProject, result: Any, key: tuple[str, ...]) -> list[tuple]:
    """The key columns of the rows a test fails on, from dbt's compiled SQL of the test
    (distinct: a relationships test reports every child row of a missing parent)."""
    (node,) = [r.node for r in result.result.results if r.node.resource_type == "test"]
    with duckdb.connect(str(project.duckdb_path), read_only=True) as con:
        cursor = con.execute(node.compiled_code)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    return keyset(tuple(row[k] for k in key) for row in rows)


def keyset(rows: Iterable[tuple]) -> list[tuple]:
    """Comparable keys: dates as YYYY-MM-DD text, sorted, each once."""
    def normal(value: Any) -> Any:
        return value.isoformat()[:10] if hasattr(value, "isoformat") else value
    return sorted({tuple(normal(v) for v in row) for row in rows}, key=repr)


@pytest.mark.parametrize("check", CASES, ids=[c.test for c in CASES])
def test_the_check_fails_on_the_rows_broken(warehouse: tuple, check: Case) -> None:
    project, pristine, passed = warehouse
    assert check.test in passed, f"{check.test} did not pass on the clean build"
    breakage = Breakage(project, pristine)
    try:
        expected = keyset(check.breaks(breakage))
        # --no-write-json: the build's manifest.json stays, and each call is ~40% cheaper.
        result = project.invoke("test", "--no-write-json", "--select", check.test)
        assert failures(result) == [check.test]
        assert failing_rows(project, result, check.key) == expected
    finally:
        breakage.restore()


def test_every_data_test_has_a_failing_case(warehouse: tuple) -> None:
    """A data test added to the project must come with a case above that makes it fail; so
    every generic test of tests/generic/ and every built-in one used is shown failing."""
    project, _, _ = warehouse
    manifest = json.loads((project.target_path / "manifest.json").read_text())
    tests = {node["name"]: node["test_metadata"]["name"]
             for node in manifest["nodes"].values() if node["resource_type"] == "test"}
    assert tests == {c.test: c.kind for c in CASES}
    generic = {path.stem for path in (DBT_PROJECT_DIR / "tests" / "generic").glob("*.sql")}
    assert generic <= set(tests.values())


def test_dim_date_is_the_calendar(warehouse: tuple) -> None:
    """dim_date is generated from the calendar vars, not from data, so no data test can fail
    on it; its columns are checked here instead, once, against Python's calendar."""
    project, _, _ = warehouse
    calendar = dbt_vars(str(project.lake_root))
    first = date.fromisoformat(calendar["calendar_start"])
    last = date.fromisoformat(calendar["calendar_end"])
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    expected = [(d, d.year, (d.month - 1) // 3 + 1, d.month, d.strftime("%B"), d.day,
                 d.isoweekday(), d.strftime("%A"), d.isocalendar()[1], d.isoweekday() >= 6,
                 d.replace(day=1)) for d in days]
    with duckdb.connect(str(project.duckdb_path), read_only=True) as con:
        rows = con.execute("select date_day, year, quarter, month, month_name, day_of_month, "
                           "iso_day_of_week, day_name, iso_week, is_weekend, month_start_date "
                           "from marts.dim_date order by date_day").fetchall()
    assert rows == expected


def test_the_forecast_stage_checks_only_the_date_it_wrote_and_fails_in_one_line(
        warehouse: tuple) -> None:
    """The forecast stage's last node runs these tests over the forecast date it wrote: a
    broken forecast of another date is not read; a broken one of that date stops the run,
    naming the failed test."""
    from retailops.errors import TransformError
    from retailops.lake.storage import Lake
    from retailops.pipelines.forecast.checks import check_forecast_marts
    from retailops.warehouse.engines import DuckDBWarehouse

    project, pristine, _ = warehouse
    breakage = Breakage(project, pristine)
    lake, store = Lake(str(project.lake_root)), DuckDBWarehouse(path=str(project.duckdb_path))
    params = {"target": "duckdb"}
    other = f"curated/fct_demand_forecast/forecast_date={FORECAST_DATE - timedelta(days=1)}/"
    try:
        _, rows = breakage.parquet_rows(FORECAST_FILE)
        (project.lake_root / other).mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist([{**rows[0], "units": -1.0}]),
                       project.lake_root / other / "forecast.parquet")
        done = check_forecast_marts({"forecast_date": FORECAST_DATE.isoformat()}, params, lake,
                                    store)
        assert done["tested"] and done["tests_passed"] == 5
        assert check_forecast_marts({"skipped": "too little history"}, params, lake,
                                    store)["tested"] is False
        breakage.write_parquet(FORECAST_FILE, rows + [{**rows[0], "model": "broken",
                                                       "units_p90": 0.0}])
        with pytest.raises(TransformError, match=(
                rf"^dbt test of the forecast for {FORECAST_DATE} failed: 1 data test\(s\) "
                r"failed: forecast_valid_units$")):
            check_forecast_marts({"forecast_date": FORECAST_DATE.isoformat()}, params, lake,
                                 store)
    finally:
        breakage.restore()
        shutil.rmtree(project.lake_root / other, ignore_errors=True)
