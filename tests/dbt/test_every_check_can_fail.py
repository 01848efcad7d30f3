"""Every dbt data test of the project fails on data broken on purpose, and only where broken.

One real ``dbt build`` on DuckDB over five simulated days (every test passes on that clean
data: the build must succeed). Then, for each data test, one or more cases break the data the
test guards (a raw CSV or manifest of the lake, or a table of the warehouse), run
``dbt test --select <that test>`` in-process and check that dbt reports that test failed, and
that the rows it fails on (dbt's own compiled SQL, run on the warehouse) are exactly the rows
broken. A model's row_rules test holds all its per-row rules, its grain and its references:
each rule is broken on a row of its own, and the row must name that rule and no other
(`failed_rules`), so every rule is shown to bite. The lake files and the warehouse file are
restored after each case.

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


# ---- the landing: every committed partition loaded whole ------------------------------------

PLAN_DAY = "2024-07-01"  # the one publication of the five-day lake
LOADED = "committed_partitions_loaded_whole"


@case(LOADED, "partitions_loaded_whole", "table_name", "partition_dt")
def _(b: Breakage) -> list[tuple]:
    (sale,) = first_sales(b, 1)
    b.sql(f"delete from staging.base_sales where sale_id = {sale}")  # a line lost in landing
    # The manifest promises one row more than the partition holds.
    b.sql("update staging.stg_manifests set row_count = row_count + 1 "
          "where table_name = 'inventory' and partition_dt = '2024-07-03'")
    # A committed partition missing from the base table altogether (0 rows loaded).
    day = busiest_shipment_day(b)
    b.sql(f"delete from staging.base_shipments where dt = '{day}'")
    # The promotion plan's manifest promises a row the publication does not hold.
    b.sql("update staging.stg_manifests set row_count = row_count + 1 "
          f"where table_name = 'promotions' and partition_dt = '{PLAN_DAY}'")
    return [("sales", DAY), ("inventory", "2024-07-03"), ("shipments", day),
            ("promotions", PLAN_DAY)]


@case(LOADED, "partitions_loaded_whole", "table_name", "partition_dt")
def _(b: Breakage) -> list[tuple]:
    # No sale line in the warehouse at all: every committed day is short, and the empty
    # table is named once more on its own.
    days = [r[0] for r in b.rows("select partition_dt from staging.stg_manifests "
                                 "where table_name = 'sales' and row_count > 0")]
    b.sql("delete from staging.base_sales")
    return [("sales", day) for day in days] + [("sales", None)]


# ---- staging: one row_rules test per model; each rule broken on its own row, named ------------

RULES = "failed_rules"


@case("stg_manifests_rules", "row_rules", "table_name", "partition_dt", RULES)
def _(b: Breakage) -> list[tuple]:
    b.sql("insert into staging.stg_manifests select * from staging.stg_manifests "
          f"where table_name = 'sales' and partition_dt = '{DAY}'",
          "update staging.stg_manifests set table_name = 'returns' "
          "where table_name = 'sales' and partition_dt = '2024-07-01'",
          "update staging.stg_manifests set partition_date = null "
          "where table_name = 'inventory' and partition_dt = '2024-07-01'",
          "update staging.stg_manifests set row_count = -1 "
          "where table_name = 'shipments' and partition_dt = '2024-07-03'",
          "update staging.stg_manifests set sha256 = null "
          "where table_name = 'sales' and partition_dt = '2024-07-03'")
    return [("sales", DAY, "unique(table_name, partition_dt)"),
            ("returns", "2024-07-01", "fact_table"),
            ("inventory", "2024-07-01", "date_partition"),
            ("shipments", "2024-07-03", "rows_counted"),
            ("sales", "2024-07-03", "checksum_present")]


@case("stg_products_rules", "row_rules", "product_id", RULES)
def _(b: Breakage) -> list[tuple]:
    _, products = b.csv_rows("raw/products/products.csv")
    good = {**products[0], "is_perishable": "false"}
    b.append_csv("raw/products/products.csv", [
        products[1],                                      # landed twice
        {**good, "product_id": ""},
        {**good, "product_id": "P90002", "product_name": ""},
        {**good, "product_id": "P90003", "category": " "},
        {**good, "product_id": "P90004", "unit_cost": "0"},
        {**good, "product_id": "P90005", "list_price": "n/a"},
        {**good, "product_id": "P90006", "is_perishable": ""},
        {**good, "product_id": "P90007", "supplier_id": "SUP999"},
    ])
    return [(products[1]["product_id"], "unique(product_id)"), (None, "names_present"),
            ("P90002", "names_present"), ("P90003", "names_present"),
            ("P90004", "prices_positive"), ("P90005", "prices_positive"),
            ("P90006", "perishable_known"), ("P90007", "supplier_id in stg_suppliers")]


@case("stg_stores_rules", "row_rules", "store_id", RULES)
def _(b: Breakage) -> list[tuple]:
    _, stores = b.csv_rows("raw/stores/stores.csv")
    broken = [({"store_id": ""}, "names_present"), ({"store_name": ""}, "names_present"),
              ({"city": ""}, "names_present"), ({"region": ""}, "names_present"),
              ({"store_type": "mall"}, "known_type"), ({"cluster": "9"}, "cluster_1_to_8"),
              ({"size_sqft": "0"}, "size_positive"), ({"opened_date": "soon"}, "opening_date")]
    rows = [{**stores[0], "store_id": f"ST9{i:02d}", **change}
            for i, (change, _) in enumerate(broken)]
    b.append_csv("raw/stores/stores.csv", [stores[1], *rows])
    return [(stores[1]["store_id"], "unique(store_id)")] + [
        (row["store_id"] or None, rule) for row, (_, rule) in zip(rows, broken)]


@case("stg_suppliers_rules", "row_rules", "supplier_id", RULES)
def _(b: Breakage) -> list[tuple]:
    _, suppliers = b.csv_rows("raw/suppliers/suppliers.csv")
    good = {"supplier_name": "Test Foods", "country": "USA", "lead_time": "7 days",
            "on_time_rate": "92%"}
    broken = [({"supplier_id": ""}, "names_present"), ({"supplier_name": ""}, "names_present"),
              ({"lead_time": "0 days"}, "lead_time_1_to_120_days"),
              ({"lead_time": "soon"}, "lead_time_1_to_120_days"),
              ({"on_time_rate": "150%"}, "on_time_rate_0_to_1")]
    rows = [{**good, "supplier_id": f"SUP9{i:02d}", **change}
            for i, (change, _) in enumerate(broken)]
    b.append_csv("raw/suppliers/suppliers.csv", [suppliers[0], *rows])
    return [(suppliers[0]["supplier_id"], "unique(supplier_id)")] + [
        (row["supplier_id"] or None, rule) for row, (_, rule) in zip(rows, broken)]


@case("stg_sales_rules", "row_rules", "sale_id", RULES)
def _(b: Breakage) -> list[tuple]:
    sales = first_sales(b, 10)
    changes = [("sale_id = null", "keys_present"), ("store_id = null", "keys_present"),
               ("product_id = null", "keys_present"),
               ("sold_at = sold_at + interval 1 day", "sold_on_its_partition_day"),
               ("quantity = 0", "quantity_at_least_1"), ("unit_price = 0", "price_positive"),
               ("discount_pct = 0.6", "discount_0_to_half"),
               ("store_id = 'ST999'", "store_id in stg_stores"),
               ("product_id = 'P99999'", "product_id in stg_products")]
    b.sql(*(f"update staging.base_sales set {change} where sale_id = {sale}"
            for sale, (change, _) in zip(sales, changes)))
    b.sql(f"insert into staging.base_sales select * from staging.base_sales "
          f"where sale_id = {sales[9]}")  # a line landed twice
    return ([(None, "keys_present")] + [(sale, rule) for sale, (_, rule) in
                                        zip(sales[1:], changes[1:])]
            + [(sales[9], "unique(sale_id)")])


@case("stg_inventory_rules", "row_rules", "store_id", "product_id", RULES)
def _(b: Breakage) -> list[tuple]:
    cells = inventory_cells(b, 7)
    changes = [("store_id = null", "keys_present"), ("product_id = null", "keys_present"),
               ("snapshot_date = snapshot_date + 1", "counted_on_its_partition_day"),
               ("quantity_on_hand = null", "count_recorded"),
               ("quantity_on_order = -1", "on_order_not_negative"),
               ("reorder_point = -1", "reorder_point_not_negative")]
    b.sql(*(f"update staging.base_inventory set {change} where dt = '{DAY}' "
            f"and store_id = '{store}' and product_id = '{product}'"
            for (store, product), (change, _) in zip(cells, changes)))
    store, product = cells[6]
    b.sql(f"insert into staging.base_inventory select * from staging.base_inventory "
          f"where dt = '{DAY}' and store_id = '{store}' and product_id = '{product}'")
    expected = [(None, cells[0][1], "keys_present"), (cells[1][0], None, "keys_present")]
    return (expected + [(*cell, rule) for cell, (_, rule) in zip(cells[2:], changes[2:])]
            + [(store, product, "unique(snapshot_date, store_id, product_id)")])


@case("stg_shipments_rules", "row_rules", "shipment_id", "line_number", RULES)
def _(b: Breakage) -> list[tuple]:
    lines = shipment_lines(b, 12)
    changes = [("shipment_id = null", "keys_present"), ("line_number = 0", "line_from_1"),
               ("supplier_id = null", "keys_present"), ("store_id = null", "keys_present"),
               ("product_id = null", "keys_present"),
               ("received_date = received_date + 1", "received_on_its_partition_day"),
               ("order_date = expected_date", "ordered_before_due_and_receipt"),
               # order before its due date but not before its arrival (an early delivery)
               ("expected_date = received_date + 5, order_date = received_date",
                "ordered_before_due_and_receipt"),
               ("quantity_ordered = 0, quantity_received = 0", "ordered_at_least_1"),
               ("quantity_received = quantity_ordered + 1", "received_0_to_ordered"),
               ("supplier_id = 'SUP999'", "supplier_id in stg_suppliers")]
    b.sql(*(f"update staging.base_shipments set {change} where shipment_id = {shipment} "
            f"and line_number = {line}" for (shipment, line), (change, _) in zip(lines, changes)))
    # Not an exact duplicate (those are collapsed): the same line with another quantity.
    shipment, line = lines[11]
    b.sql("insert into staging.base_shipments select * replace (quantity_ordered + 1 as "
          f"quantity_ordered) from staging.base_shipments where shipment_id = {shipment} "
          f"and line_number = {line} limit 1")
    expected = [(None, lines[0][1], "keys_present"), (lines[1][0], 0, "line_from_1")]
    return (expected + [(*key, rule) for key, (_, rule) in zip(lines[2:], changes[2:])]
            + [(shipment, line, "unique(shipment_id, line_number)")])


@case("stg_defects_rules", "row_rules", "record_key", RULES)
def _(b: Breakage) -> list[tuple]:
    # stg_defects is a table on DuckDB (built from the ledger files): broken in the table.
    b.sql("insert into staging.stg_defects (ledger, defect_date, table_name, defect_type, "
          "record_key, partition_dt) values "
          f"('facts', date '{DAY}', 'sales', 'negative_on_hand', 'K1', '{DAY}'), "
          f"('facts', date '{DAY}', 'returns', 'null_discount', 'K2', '{DAY}'), "
          f"('facts', date '{DAY}', 'sales', 'null_discount', null, '{DAY}'), "
          "('dimensions', null, 'suppliers', 'missing_supplier', 'K4', null)")
    return [("K1", "known_table_and_type"), ("K2", "known_table_and_type"),
            (None, "key_present"), ("K4", "known_table_and_type")]


# ---- the promotion plan (stg_promotions is a view over the CSVs) --------------------------------

def editable_promotions(b: Breakage) -> dict[str, Any]:
    """Turn the view stg_promotions into a table of its rows (the warehouse is restored after
    the case), so rows can be added as a broken landing would show them; returns a clean row
    of the publication's second week."""
    b.sql("create table staging.promotions_rows as select * from staging.stg_promotions",
          "drop view staging.stg_promotions",
          "create table staging.stg_promotions as select * from staging.promotions_rows")
    with duckdb.connect(str(b.project.duckdb_path), read_only=True) as con:
        cursor = con.execute("select * from staging.stg_promotions "
                             "where start_date = date '2024-07-08' order by product_id limit 1")
        names = [d[0] for d in cursor.description]
        return dict(zip(names, cursor.fetchone()))


def add_promotions(b: Breakage, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        b.sql("insert into staging.stg_promotions values ({})".format(", ".join(
            "null" if row[c] is None else f"'{row[c]}'" for c in (
                "published_date", "product_id", "start_date", "end_date", "discount_pct",
                "partition_dt"))))


@case("stg_promotions_rules", "row_rules", "product_id", RULES)
def _(b: Breakage) -> list[tuple]:
    good = editable_promotions(b)
    # Real products the plan does not promote: each broken row breaks its one rule only.
    spare = [r[0] for r in b.rows("select product_id from staging.stg_products where product_id "
                                  "not in (select product_id from staging.stg_promotions) "
                                  "order by 1 limit 7")]
    broken = [
        ({"product_id": None}, "product_present"),
        ({"published_date": "2024-07-08"}, "published_in_its_partition"),
        ({"published_date": "2024-07-02", "partition_dt": "2024-07-02"}, "published_on_a_monday"),
        ({"start_date": "2024-07-09", "end_date": "2024-07-15"}, "week_monday_to_sunday"),
        ({"end_date": "2024-07-13"}, "week_monday_to_sunday"),
        ({"start_date": "2024-08-05", "end_date": "2024-08-11"}, "within_five_weeks"),
        ({"discount_pct": 0}, "discount_a_real_cut"),
        ({"discount_pct": 1}, "discount_a_real_cut"),
    ]
    rows = [{**good, "product_id": product, **change}
            for product, (change, _) in zip([None, *spare], broken)]
    add_promotions(b, rows + [good, {**good, "product_id": "P99999"}])
    return ([(row["product_id"], rule) for row, (_, rule) in zip(rows, broken)]
            + [(good["product_id"], "unique(published_date, product_id, start_date)"),
               ("P99999", "product_id in stg_products")])


# ---- marts ------------------------------------------------------------------------------------

def fact_rows(b: Breakage, model: str, date_column: str, where: str, rule: str) -> list[tuple]:
    return [(*key, rule) for key in b.rows(
        f"select cast({date_column} as varchar), store_id, product_id from marts.{model} "
        f"where {where}")]


for _model, _date, _known, _break_known in (
        ("fct_daily_sales", "sale_date", "cost_known",
         # What a sale of a product whose unit cost went missing from products.csv computes.
         "cost = null, profit = null"),
        ("fct_inventory_snapshots", "snapshot_date", "value_known", "inventory_value = -1")):

    def _grain_and_rule(b: Breakage, model: str = _model, date_column: str = _date,
                        known: str = _known, break_known: str = _break_known) -> list[tuple]:
        # A day inserted twice by an incremental run; a value that cannot be known.
        (twice, unknown) = fact_keys(b, model, date_column, 2)

        def where(key: tuple) -> str:
            return (f"{date_column} = date '{key[0]}' and store_id = '{key[1]}' "
                    f"and product_id = '{key[2]}'")

        b.sql(f"insert into marts.{model} select * from marts.{model} where {where(twice)}",
              f"update marts.{model} set {break_known} where {where(unknown)}")
        return [(*twice, f"unique({date_column}, store_id, product_id)"), (*unknown, known)]

    # A daily run does not rebuild the dimensions: a stored dimension can lack what a new
    # fact row names.
    def _store(b: Breakage, model: str = _model, date_column: str = _date) -> list[tuple]:
        ((_, store, _),) = fact_keys(b, model, date_column, 1)
        b.sql(f"delete from marts.dim_stores where store_id = '{store}'")
        return fact_rows(b, model, date_column, f"store_id = '{store}'", "store_id in dim_stores")

    def _product(b: Breakage, model: str = _model, date_column: str = _date) -> list[tuple]:
        ((_, _, product),) = fact_keys(b, model, date_column, 1)
        b.sql(f"delete from marts.dim_products where product_id = '{product}'")
        return fact_rows(b, model, date_column, f"product_id = '{product}'",
                         "product_id in dim_products")

    def _calendar(b: Breakage, model: str = _model, date_column: str = _date) -> list[tuple]:
        b.sql(f"delete from marts.dim_date where date_day = date '{DAY}'")
        return fact_rows(b, model, date_column, f"{date_column} = date '{DAY}'",
                         f"{date_column} in dim_date")

    for _breaks in (_grain_and_rule, _store, _product, _calendar):
        case(f"{_model}_rules", "row_rules", _date, "store_id", "product_id", RULES)(_breaks)


@case("mart_supplier_performance_rules", "row_rules", "supplier_name", RULES)
def _(b: Breakage) -> list[tuple]:
    rows = b.rows("select supplier_id, supplier_name from marts.mart_supplier_performance "
                  "order by supplier_id limit 4")
    changes = [("supplier_id = null", "supplier_present"),
               ("promised_lead_time_days = 0", "promised_lead_time_1_to_120_days"),
               ("promised_on_time_rate = 1.5", "promised_on_time_rate_0_to_1")]
    b.sql(*(f"update marts.mart_supplier_performance set {change} where supplier_id = '{sid}'"
            for (sid, _), (change, _) in zip(rows, changes)))
    b.sql("insert into marts.mart_supplier_performance select * from "
          f"marts.mart_supplier_performance where supplier_id = '{rows[3][0]}'")
    return ([(name, rule) for (_, name), (_, rule) in zip(rows, changes)]
            + [(rows[3][1], "unique(supplier_id)")])


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
