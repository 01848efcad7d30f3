"""Validation catches what an operator needs: a day never landed, a gap in the week, money,
the supplier scorecard and stock that do not reconcile with the raw data.

One tiny real platform is built per module (ingest -> transform -> validate, kedro as a user
runs it, 19 days so that every stock cell has been counted twice: the chain counts each cell
every 18 days). Each test copies its warehouse, breaks one thing on purpose, and runs the
validate pipeline (in-process through a KedroSession, the same nodes and catalog as
``kedro run``; once as a separate ``kedro`` process for the exit code and the one line).
The expected values come from the raw files or from the break itself, never from the checks.
"""

from __future__ import annotations

import json
import shutil
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest

from retailops.validation import (
    DayResults,
    DeliveryTotals,
    Settings,
    daily_window,
    reconcile,
    reconcile_daily,
    reconcile_keeping,
)
from retailops.warehouse.engines import DuckDBWarehouse, frame_rows
from tests.conftest import conf_with_lake, run_kedro
from tests.platform_fixture import make_project

FIRST, LAST, SCALE = "2024-07-01", "2024-07-19", "0.01"


@dataclass(frozen=True)
class Built:
    project: Path
    lake: Path
    warehouse: Path


@dataclass(frozen=True)
class Copy:
    """A copy of the platform's warehouse (possibly broken) with a conf that points at it; the
    run reports go to a lake folder of its own. The staging views still read the platform's
    lake (dimensions, defect ledger), which no test changes."""

    conf: Path
    warehouse: Path
    reports: Path


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> Built:
    project = tmp_path_factory.mktemp("validation") / "project"
    conf, lake = make_project(project)
    run = run_kedro("run", "--pipelines", "ingest,transform,validate", "--conf-source",
                    str(conf), "--params", f"start_date={FIRST},end_date={LAST},scale={SCALE}",
                    cwd=project, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    return Built(project, lake, project / "warehouse" / "retailops.duckdb")


def copy_of(platform: Built, tmp_path: Path, *statements: str) -> Copy:
    """The platform's warehouse copied under ``tmp_path``, with ``statements`` applied."""
    reports = tmp_path / "reports-lake"
    (reports / "metadata/dbt").mkdir(parents=True)
    # The run report carries the transform's dbt summary, read from the lake's metadata.
    shutil.copy(platform.lake / "metadata/dbt/build_summary.json", reports / "metadata/dbt")
    conf = conf_with_lake(tmp_path, str(reports))
    warehouse = tmp_path / "warehouse" / "retailops.duckdb"
    warehouse.parent.mkdir()
    shutil.copy(platform.warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        for statement in statements:
            con.execute(statement)
    return Copy(conf, warehouse, reports)


def rows_of(con_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(con_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def one(con_path: Path, sql: str) -> tuple:
    with duckdb.connect(str(con_path), read_only=True) as con:
        found = con.execute(sql).fetchall()
    assert found, sql
    return found[0]


def validate(platform: Built, copy: Copy, **params: str) -> tuple[str | None, dict]:
    """Run the validate pipeline in-process; the RetailOps error it ends with (or None) and
    the run report it wrote."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from retailops.cli import find_user_error

    bootstrap_project(platform.project)
    message = None
    try:
        with KedroSession.create(project_path=platform.project, conf_source=str(copy.conf),
                                 runtime_params=params) as session:
            session.run(pipeline_names=["validate"])
    except Exception as exc:  # noqa: BLE001 - the user error is somewhere in Kedro's chain
        error = find_user_error(exc)
        if error is None:
            raise
        message = str(error)
    report = json.loads((copy.reports / "metadata/runs/validation/latest.json").read_text())
    return message, report


def checks_of(copy: Copy, first: str, last: str, **settings) -> dict:
    with DuckDBWarehouse(str(copy.warehouse)).session() as warehouse:
        found = reconcile(warehouse, date.fromisoformat(first), date.fromisoformat(last),
                          Settings(**settings))
    return {check.name: check for check in found}


def failed(report: dict) -> set[str]:
    return set(report["failed_checks"])


def assert_one_line_naming(message: str | None, *parts: str) -> None:
    assert message is not None, "the run should have failed"
    assert "\n" not in message, message
    assert message.startswith("validation failed for "), message
    for part in parts:
        assert part in message, (part, message)


# --- the clean platform --------------------------------------------------------------------

def _raw_totals(lake: Path) -> tuple[float, float, int]:
    """Net revenue, cost and sale lines straight from the raw CSV files."""
    return duckdb.execute(
        f"select sum(cast(s.quantity as int) * cast(s.unit_price as double) "
        f"* (1 - coalesce(try_cast(s.discount_pct as double), 0))), "
        f"sum(cast(s.quantity as int) * cast(p.unit_cost as double)), count(*) "
        f"from read_csv('{lake}/raw/sales/*/sales.csv', all_varchar=true, "
        f"hive_partitioning=false) s join read_csv('{lake}/raw/products/products.csv', "
        f"all_varchar=true) p using (product_id)").fetchone()


def test_a_clean_platform_passes_every_check(platform):
    report = json.loads((platform.lake / "metadata/runs/validation/latest.json").read_text())
    assert report["ok"] is True, report["failures"]
    assert report["window"] == {"first": FIRST, "last": LAST}
    checks = {c["name"]: c for c in report["checks"]}
    net, cost, lines = _raw_totals(platform.lake)
    money = checks["money: net revenue from the raw sale lines = fct_daily_sales net revenue, "
                   "every day"]
    assert money["expected"] == pytest.approx(net, rel=1e-9)
    assert checks["money: cost from the raw sale lines = fct_daily_sales cost, every day"][
        "expected"] == pytest.approx(cost, rel=1e-9)
    assert checks["sales: landed lines = staged lines, every day"]["expected"] == lines
    # Real work was done: count pairs (every cell counted on day 1 is counted again on day 19),
    # deliveries from several suppliers.
    cells_counted_on_day_1 = sum(1 for _ in (
        platform.lake / "raw/inventory/dt=2024-07-01/inventory.csv").open()) - 1
    stock = checks["stock: on hand conserved between consecutive counts"]
    assert 0 < stock["expected"] <= cells_counted_on_day_1
    assert checks["suppliers: on-time rate per supplier = mart_supplier_performance "
                  "on-time rate"]["expected"] >= 3


def test_a_daily_run_validates_the_week_up_to_its_day(platform, tmp_path):
    copy = copy_of(platform, tmp_path)
    message, report = validate(platform, copy, run_date=LAST)
    assert message is None and report["ok"], report["failures"]
    assert report["window"] == {"first": "2024-07-13", "last": LAST}
    # Early in the lake's life the week is cut at the first landed day.
    with DuckDBWarehouse(str(copy.warehouse)).session() as warehouse:
        early = daily_window(warehouse, date(2024, 7, 3), 7)
        before = daily_window(warehouse, date(2024, 6, 20), 7)
    assert (early.first, early.last) == (date(2024, 7, 1), date(2024, 7, 3))
    # A day before anything landed: that day is what is missing.
    assert (before.first, before.last) == (date(2024, 6, 20), date(2024, 6, 20))


# --- days ----------------------------------------------------------------------------------

def test_a_day_never_landed_fails_the_run_in_one_line_naming_it(platform, tmp_path):
    copy = copy_of(platform, tmp_path)
    result = run_kedro("run", "--pipelines", "validate", "--conf-source", str(copy.conf),
                       "--params", "run_date=2024-07-20", cwd=platform.project)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("retailops: error: validation failed for 2024-07-14..2024-07-20: "
                               "lake: every day has a complete sales partition"), lines[0]
    assert "no sales partition for 2024-07-20" in lines[0]
    report = json.loads((copy.reports / "metadata/runs/validation/latest.json").read_text())
    assert {"lake: every day has a complete inventory partition",
            "lake: every day has a complete shipments partition",
            "marts: every day is in fct_daily_sales"} <= failed(report)


def test_a_gap_earlier_in_the_week_fails_the_daily_run_naming_the_day(platform, tmp_path):
    # The inventory manifest of 07-15 is gone: the manifest index the transform rebuilds from
    # the lake's manifests on every run no longer lists it.
    copy = copy_of(platform, tmp_path, "delete from staging.stg_manifests "
                   "where table_name = 'inventory' and partition_dt = '2024-07-15'")
    message, report = validate(platform, copy, run_date=LAST)
    assert_one_line_naming(message, "2024-07-13..2024-07-19",
                           "lake: every day has a complete inventory partition",
                           "no inventory partition for 2024-07-15")
    assert "lake: every day has a complete sales partition" not in failed(report)


def test_a_day_missing_from_the_marts_fails_naming_it(platform, tmp_path):
    copy = copy_of(platform, tmp_path,
                   "delete from marts.fct_daily_sales where sale_date = date '2024-07-16'")
    message, report = validate(platform, copy, run_date=LAST)
    assert_one_line_naming(message, "marts: every day is in fct_daily_sales",
                           "fct_daily_sales has no rows for 2024-07-16")
    assert not any(name.startswith("lake:") for name in failed(report))


def test_a_day_the_chain_was_closed_needs_no_mart_rows(platform, tmp_path):
    # Christmas Day: the stores are closed, the sales partition lands with no rows and the mart
    # has nothing for the day. That is a day covered, not a day missing.
    copy = copy_of(platform, tmp_path,
                   "update staging.stg_manifests set row_count = 0 "
                   "where table_name = 'sales' and partition_dt = '2024-07-16'",
                   "delete from marts.fct_daily_sales where sale_date = date '2024-07-16'")
    check = checks_of(copy, "2024-07-14", "2024-07-17")["marts: every day is in fct_daily_sales"]
    assert check.ok and check.expected == 3, check.describe()
    # A day whose partition has rows must still be in the mart.
    copy = copy_of(platform, tmp_path / "with-rows",
                   "delete from marts.fct_daily_sales where sale_date = date '2024-07-16'")
    check = checks_of(copy, "2024-07-14", "2024-07-17")["marts: every day is in fct_daily_sales"]
    assert not check.ok and "2024-07-16" in check.describe()


def test_an_empty_window_is_missing_not_zero(platform, tmp_path):
    copy = copy_of(platform, tmp_path)
    checks = checks_of(copy, "2024-08-01", "2024-08-02")
    # Nothing landed: the row and money checks have nothing to add up, and fail for it.
    for name in ("sales: landed lines = staged lines, every day",
                 "money: net revenue from the raw sale lines = fct_daily_sales net revenue, "
                 "every day"):
        assert checks[name].expected is None and not checks[name].ok
    assert "no rows" in checks["sales: landed lines = staged lines, every day"].describe()


def _raw_lines(platform: Built, table: str, day: str) -> int:
    """Lines of a day's raw CSV file (its header left out)."""
    return sum(1 for _ in (platform.lake / f"raw/{table}/dt={day}/{table}.csv").open()) - 1


def test_a_line_lost_in_staging_fails_the_row_checks_naming_its_day(platform, tmp_path):
    """The staged lines are counted a day at a time: one sale line and one count gone from
    the typed base tables fail the landed = staged checks on their own days only, whatever
    the statements' batch of days."""
    sale_id, quantity = one(platform.warehouse, (
        "select sale_id, quantity from staging.base_sales where dt = '2024-07-16' "
        "order by sale_id limit 1"))
    store, product = one(platform.warehouse, (
        "select store_id, product_id from staging.base_inventory where dt = '2024-07-15' "
        "order by 1, 2 limit 1"))
    copy = copy_of(platform, tmp_path,
                   f"delete from staging.base_sales where sale_id = {sale_id}",
                   f"delete from staging.base_inventory where dt = '2024-07-15' "
                   f"and store_id = '{store}' and product_id = '{product}'")
    sales, counts = _raw_lines(platform, "sales", "2024-07-16"), _raw_lines(
        platform, "inventory", "2024-07-15")
    units = one(platform.warehouse, "select sum(quantity) from staging.base_sales "
                "where dt = '2024-07-16'")[0]
    for batch_days in (31, 2):
        checks = checks_of(copy, "2024-07-13", LAST, batch_days=batch_days)
        assert checks["sales: landed lines = staged lines, every day"].problems == (
            f"2024-07-16: {sales} landed, {sales - 1} staged",)
        assert checks["sales: staged lines = fct_daily_sales transactions, every day"
                      ].problems == (f"2024-07-16: {sales - 1} staged, {sales} in the mart",)
        assert checks["sales: staged units = fct_daily_sales units, every day"].problems == (
            f"2024-07-16: {units - quantity} staged, {units} in the mart",)
        assert checks["inventory: landed counts = staged counts, every day"].problems == (
            f"2024-07-15: {counts} landed, {counts - 1} staged",)
        assert checks["inventory: staged counts = fct_inventory_snapshots rows, every day"
                      ].problems == (f"2024-07-15: {counts - 1} staged, {counts} in the mart",)


def test_a_delivery_line_lost_in_staging_breaks_the_duplicate_count(platform, tmp_path,
                                                                     monkeypatch):
    """raw lines - staged lines = ledgered duplicates, the staged lines counted in pieces of
    days: one line gone from the typed delivery lines is one duplicate too many, whatever the
    batches and pieces."""
    from retailops.validation import ledger

    name = "shipments: raw lines - staged lines = ledger duplicates"
    shipment, line = one(platform.warehouse, (
        "select shipment_id, line_number from staging.base_shipments where dt = '2024-07-17' "
        "group by 1, 2 having count(*) = 1 order by 1, 2 limit 1"))
    clean = checks_of(copy_of(platform, tmp_path / "clean"), "2024-07-13", LAST)[name]
    assert clean.ok, clean.describe()
    broken = copy_of(platform, tmp_path / "broken",
                     f"delete from staging.base_shipments where shipment_id = {shipment} "
                     f"and line_number = {line}")
    day_lines = one(platform.warehouse, "select count(*) from staging.base_shipments "
                    "where dt = '2024-07-17'")[0]
    # Every day its own piece, pieces of about two days, the window in one.
    for piece_lines in (1, 2 * day_lines, 50_000):
        monkeypatch.setattr(ledger, "PIECE_LINES", piece_lines)
        for batch_days in (31, 2):
            check = checks_of(broken, "2024-07-13", LAST, batch_days=batch_days)[name]
            assert not check.ok and check.actual == clean.actual + 1, check.describe()
            assert check.expected == clean.expected


def test_staged_delivery_lines_are_counted_in_pieces_of_consecutive_days():
    from retailops.validation.ledger import PIECE_LINES, _pieces

    july = [date(2024, 7, d) for d in range(1, 8)]
    landed = {"2024-07-01": 30_000.0, "2024-07-02": 20_000.0, "2024-07-03": 60_000.0,
              "2024-07-04": 1_000.0, "2024-07-05": None, "2024-07-07": 49_000.0}
    assert PIECE_LINES == 50_000
    assert _pieces(july, landed) == [
        (date(2024, 7, 1), date(2024, 7, 2)), (date(2024, 7, 3), date(2024, 7, 3)),
        (date(2024, 7, 4), date(2024, 7, 7))]  # 1,000 + 49,000: at most, so together
    assert _pieces(july, {}) == [(july[0], july[-1])] and _pieces([], landed) == []


# --- money ---------------------------------------------------------------------------------

def test_money_in_the_mart_must_match_the_raw_sale_lines(platform, tmp_path):
    store, product = one(platform.warehouse, "select store_id, product_id from "
                         "marts.fct_daily_sales where sale_date = date '2024-07-18' limit 1")
    copy = copy_of(platform, tmp_path,
                   f"update marts.fct_daily_sales set net_revenue = net_revenue + 25 "
                   f"where sale_date = date '2024-07-18' and store_id = '{store}' "
                   f"and product_id = '{product}'")
    message, report = validate(platform, copy, run_date=LAST)
    net = "money: net revenue from the raw sale lines = fct_daily_sales net revenue, every day"
    assert_one_line_naming(message, net, "2024-07-18:")
    assert failed(report) == {net}  # cost and profit (a column of its own) still agree


def test_money_tolerance_is_a_hundredth_of_a_percent(platform, tmp_path):
    day = "sale_date = date '2024-07-18'"
    within = copy_of(platform, tmp_path / "within",
                     f"update marts.fct_daily_sales set cost = cost * (1 + 5e-5) where {day}")
    beyond = copy_of(platform, tmp_path / "beyond",
                     f"update marts.fct_daily_sales set cost = cost * (1 + 2e-4) where {day}")
    name = "money: cost from the raw sale lines = fct_daily_sales cost, every day"
    assert checks_of(within, "2024-07-13", LAST)[name].ok
    assert not checks_of(beyond, "2024-07-13", LAST)[name].ok


# --- suppliers -----------------------------------------------------------------------------

def test_a_changed_received_quantity_breaks_the_supplier_fill_rate(platform, tmp_path):
    supplier, shipment, line = one(platform.warehouse, (
        "select supplier_id, shipment_id, line_number from staging.base_shipments "
        "where quantity_received > 1 order by dt, shipment_id, line_number limit 1"))
    copy = copy_of(platform, tmp_path,
                   f"update staging.base_shipments set quantity_received = quantity_received - 1 "
                   f"where shipment_id = {shipment} and line_number = {line}")
    message, report = validate(platform, copy, start_date=FIRST, end_date=LAST)
    fill = "suppliers: fill rate per supplier = mart_supplier_performance fill rate"
    assert_one_line_naming(message, fill, f"{supplier}:")
    # The lost unit also unbalances stock if its cell was counted on both sides of the receipt.
    assert fill in failed(report)
    assert failed(report) <= {fill, "stock: on hand conserved between consecutive counts"}


def test_a_late_delivery_breaks_the_on_time_rate_and_lead_time(platform, tmp_path):
    supplier, shipment = one(platform.warehouse, (
        "select supplier_id, shipment_id from staging.base_shipments group by 1, 2 "
        "having max(received_date) <= max(expected_date) order by 2 limit 1"))
    copy = copy_of(platform, tmp_path,
                   f"update staging.base_shipments set received_date = expected_date + 3 "
                   f"where shipment_id = {shipment}")
    checks = checks_of(copy, FIRST, LAST)
    for measure in ("on-time rate", "lead time"):
        check = checks[f"suppliers: {measure} per supplier = mart_supplier_performance {measure}"]
        assert not check.ok and check.problems[0].startswith(f"{supplier}:"), check.describe()
    assert checks["suppliers: shipments per supplier = mart_supplier_performance shipments"].ok


# --- the defect ledger ---------------------------------------------------------------------

def test_a_blank_discount_staging_did_not_flag_breaks_both_ledger_checks(platform, tmp_path):
    blanks = [row for d in range(13, 20) for row in duckdb.execute(
        f"select record_key from read_csv('{platform.lake}/metadata/defects/dt=2024-07-{d}/"
        f"defects.csv', all_varchar=true) where defect_type = 'null_discount'").fetchall()]
    assert len(blanks) >= 2
    flagged = "sales: missing discounts flagged = ledger null_discount"
    keys = "sales: ledger null_discount keys all flagged in staging"
    clean = checks_of(copy_of(platform, tmp_path / "clean"), "2024-07-13", LAST)
    assert (clean[flagged].expected, clean[flagged].actual) == (len(blanks), len(blanks))
    assert clean[keys].ok and clean[keys].actual == 0
    # One ledgered blank discount arrives with a value: staging no longer flags it.
    found = checks_of(copy_of(platform, tmp_path / "broken",
                              f"update staging.base_sales set discount_pct = 0.1 "
                              f"where sale_id = {blanks[0][0]}"), "2024-07-13", LAST)
    assert (found[flagged].expected, found[flagged].actual) == (len(blanks), len(blanks) - 1)
    assert not found[keys].ok and found[keys].actual == 1


# --- stock ---------------------------------------------------------------------------------

def _a_clean_pair(platform: Built) -> tuple[str, str]:
    """A cell counted on 07-01 and 07-19 with neither count in the defect ledger."""
    return one(platform.warehouse, (
        "select store_id, product_id from marts.fct_inventory_snapshots "
        "where snapshot_date in (date '2024-07-01', date '2024-07-19') "
        "group by 1, 2 having count(*) = 2 and bool_and(not is_negative_on_hand) "
        "order by 1, 2 limit 1"))


def test_the_count_pairs_are_the_cells_counted_twice_and_no_others(platform, tmp_path):
    """The chain counts each cell every 18 days: over 07-13..07-19 the only clean pairs are
    the cells counted on 07-01 and 07-19 with neither count negative (read from the raw
    count files). A cell first counted in the week has no pair, whatever cell precedes it."""
    def counts(day: str) -> dict[tuple[str, str], int]:
        path = platform.lake / f"raw/inventory/dt={day}/inventory.csv"
        return {(r[1], r[2]): int(r[3]) for r in duckdb.execute(
            f"select * from read_csv('{path}', all_varchar=true)").fetchall()}

    first, last = counts("2024-07-01"), counts(LAST)
    twice = [cell for cell in first if cell in last and first[cell] >= 0 and last[cell] >= 0]
    counted_in_week = set(last).union(*(counts(f"2024-07-{d}") for d in range(13, 19)))
    assert len(counted_in_week) > 2 * len(twice)  # most cells of the week are counted once
    stock = checks_of(copy_of(platform, tmp_path), "2024-07-13", LAST)[
        "stock: on hand conserved between consecutive counts"]
    assert stock.ok and stock.expected == len(twice) > 0


def test_a_changed_count_breaks_stock_conservation_naming_the_cell(platform, tmp_path):
    store, product = _a_clean_pair(platform)
    counted = one(platform.warehouse, (
        f"select recorded_quantity_on_hand from marts.fct_inventory_snapshots "
        f"where store_id = '{store}' and product_id = '{product}' "
        f"and snapshot_date = date '2024-07-19'"))[0]
    copy = copy_of(platform, tmp_path,
                   f"update marts.fct_inventory_snapshots "
                   f"set recorded_quantity_on_hand = recorded_quantity_on_hand + 3 "
                   f"where store_id = '{store}' and product_id = '{product}' "
                   f"and snapshot_date = date '2024-07-19'")
    message, report = validate(platform, copy, run_date=LAST)
    assert_one_line_naming(message, "stock: on hand conserved between consecutive counts",
                           f"{store}/{product} 2024-07-01..2024-07-19: counted {counted + 3}, "
                           f"expected {counted}")
    assert failed(report) == {"stock: on hand conserved between consecutive counts"}


def test_an_unlisted_negative_count_is_not_excused(platform, tmp_path):
    store, product = _a_clean_pair(platform)
    copy = copy_of(platform, tmp_path,
                   f"update marts.fct_inventory_snapshots set recorded_quantity_on_hand = -4 "
                   f"where store_id = '{store}' and product_id = '{product}' "
                   f"and snapshot_date = date '2024-07-01'")
    check = checks_of(copy, "2024-07-13", LAST)["stock: on hand conserved between consecutive "
                                                "counts"]
    assert not check.ok and check.problems[0].startswith(f"{store}/{product} 2024-07-01..")


def test_a_delivery_line_received_twice_unlisted_breaks_stock_conservation(platform, tmp_path):
    """A copy of a delivery line the ledger does not list counts as a second receipt: the cell
    it was received into is expected to hold that line's quantity more than it counted.
    (The other cells' lines, and the ledger-listed copies the simulation made, still balance.)
    """
    name = "stock: on hand conserved between consecutive counts"
    found = one(platform.warehouse, (
        "with pairs as (select store_id, product_id from marts.fct_inventory_snapshots "
        "where snapshot_date in (date '2024-07-01', date '2024-07-19') "
        "group by 1, 2 having count(*) = 2 and bool_and(not is_negative_on_hand)) "
        "select lines.shipment_id, lines.line_number, lines.store_id, lines.product_id, "
        "lines.quantity_received from staging.base_shipments lines "
        "join pairs using (store_id, product_id) "
        "where lines.received_date > date '2024-07-01' "
        "and lines.received_date <= date '2024-07-19' and lines.quantity_received > 0 "
        "and (select count(*) from staging.base_shipments same "
        "     where same.shipment_id = lines.shipment_id "
        "     and same.line_number = lines.line_number) = 1 "
        "order by 1, 2 limit 1"))
    assert found is not None, "no delivery line received between a clean pair's counts"
    shipment, line, store, product, quantity = found
    counted = one(platform.warehouse, (
        f"select recorded_quantity_on_hand from marts.fct_inventory_snapshots "
        f"where store_id = '{store}' and product_id = '{product}' "
        f"and snapshot_date = date '2024-07-19'"))[0]
    assert checks_of(copy_of(platform, tmp_path / "clean"), "2024-07-13", LAST)[name].ok
    copy = copy_of(platform, tmp_path / "twice",
                   f"insert into staging.base_shipments select * from staging.base_shipments "
                   f"where shipment_id = {shipment} and line_number = {line}")
    check = checks_of(copy, "2024-07-13", LAST)[name]
    assert not check.ok and check.expected - check.actual == 1, check.describe()
    assert check.problems == (f"{store}/{product} 2024-07-01..2024-07-19: counted {counted}, "
                              f"expected {counted + quantity}",)


def test_a_daily_run_checks_only_the_count_pairs_ending_in_its_window(platform, tmp_path):
    store, product = _a_clean_pair(platform)
    copy = copy_of(platform, tmp_path,
                   f"update marts.fct_inventory_snapshots "
                   f"set recorded_quantity_on_hand = recorded_quantity_on_hand + 3 "
                   f"where store_id = '{store}' and product_id = '{product}' "
                   f"and snapshot_date = date '2024-07-19'")
    name = "stock: on hand conserved between consecutive counts"
    # The week before the broken pair's second count does not see it ...
    before = checks_of(copy, "2024-07-12", "2024-07-18")[name]
    assert before.ok and before.expected == 0
    # ... and a lookback shorter than the counting cycle finds no first count to pair with.
    short = checks_of(copy, "2024-07-13", LAST, stock_lookback_days=10)[name]
    assert short.ok and short.expected == 0
    assert not checks_of(copy, "2024-07-13", LAST)[name].ok


# --- one SQL for both engines --------------------------------------------------------------

def test_every_check_is_athena_sql_with_the_same_answers(platform, tmp_path):
    """Each statement parses as Athena/Trino SQL with no DuckDB-only syntax, and read as Trino
    SQL (transpiled back to DuckDB by sqlglot, results in nullable pandas types as awswrangler
    returns them) it gives the same checks, broken data included. Syntax and meaning through a
    translation: no Athena runs offline."""
    import sqlglot

    from tests.dbt.athena_sql_check import athena_problems

    store, product = _a_clean_pair(platform)
    copy = copy_of(platform, tmp_path,
                   f"update marts.fct_inventory_snapshots "
                   f"set recorded_quantity_on_hand = recorded_quantity_on_hand + 3 "
                   f"where store_id = '{store}' and product_id = '{product}' "
                   f"and snapshot_date = date '2024-07-19'")

    class AsAthena:
        """The copy's warehouse, fed every statement as Athena would read it."""

        engine = "duckdb"

        def __init__(self, warehouse):
            self.warehouse, self.statements = warehouse, []

        def table(self, layer, name):
            return self.warehouse.table(layer, name)

        def query(self, sql):
            self.statements.append(sql)
            frame = self.warehouse.query(sqlglot.transpile(sql, read="trino", write="duckdb")[0])
            # awswrangler's frames use pandas' nullable types: NULL arrives as pd.NA.
            return frame.convert_dtypes()

        def rows(self, sql):
            return frame_rows(self.query(sql))  # as AthenaWarehouse.rows reads its frames

        def concurrent(self):
            return nullcontext(None)  # as AthenaWarehouse: one statement at a time

    with DuckDBWarehouse(str(copy.warehouse)).session() as warehouse:
        direct = reconcile(warehouse, date(2024, 7, 13), date.fromisoformat(LAST))
        athena = AsAthena(warehouse)
        translated = reconcile(athena, date(2024, 7, 13), date.fromisoformat(LAST))
        daily_window(athena, date.fromisoformat(LAST), 7)
        # The daily path: the fingerprints, then the kept days left out (a subset of days).
        kept_paths = []
        for reader in (warehouse, athena):
            _, _, kept = reconcile_daily(reader, date(2024, 7, 12), date(2024, 7, 18),
                                         Settings(), None, None, DayResults(), "p")
            kept_paths.append(reconcile_daily(reader, date(2024, 7, 13),
                                              date.fromisoformat(LAST), Settings(), None,
                                              None, kept, "p")[0])
    assert [c.describe() for c in kept_paths[1]] == [c.describe() for c in kept_paths[0]]
    assert [c.describe() for c in kept_paths[0]] == [c.describe() for c in direct]
    assert [c.describe() for c in translated] == [c.describe() for c in direct]
    assert [c.name for c in direct if not c.ok] == [
        "stock: on hand conserved between consecutive counts"]
    problems = {sql.strip()[:80]: athena_problems(sql) for sql in athena.statements}
    assert not {k: v for k, v in problems.items() if v}


def test_validation_settings_are_checked_in_one_line():
    from retailops.errors import InvalidParameterError

    assert Settings.from_params(None) == Settings()
    assert Settings.from_params({"stock_lookback_days": 40}).stock_lookback_days == 40
    for bad, named_ in (({"stock_lookback_dayz": 3}, "stock_lookback_dayz"),
                        ({"daily_window_days": 0}, "daily_window_days"),
                        ({"daily_window_days": 2.5}, "daily_window_days"),
                        ({"batch_days": 0}, "batch_days"),
                        ({"money_tolerance": -0.1}, "money_tolerance")):
        with pytest.raises(InvalidParameterError, match=named_) as caught:
            Settings.from_params(bad)
        assert "\n" not in str(caught.value)


def test_day_batches_cut_a_window_into_spans_of_at_most_n_days():
    from retailops.validation.checks import day_batches

    july = [date(2024, 7, d) for d in (9, 1, 2, 3, 5, 8, 12)]
    assert day_batches(july, 3) == [[date(2024, 7, 1), date(2024, 7, 2), date(2024, 7, 3)],
                                    [date(2024, 7, 5)], [date(2024, 7, 8), date(2024, 7, 9)],
                                    [date(2024, 7, 12)]]
    assert day_batches(july, 31) == [sorted(july)] and day_batches([], 5) == []


def test_a_window_read_in_batches_says_what_one_pass_says(platform, tmp_path):
    """A backfill's heavy checks read the window a few days at a time: on data broken in
    several places (a count, revenue, a discount nobody published, a received quantity),
    every check says exactly what one pass over the window says."""
    pairs = rows_of(platform.warehouse, (
        "select store_id, product_id, max(snapshot_date) from marts.fct_inventory_snapshots "
        "group by 1, 2 having count(*) = 2 and bool_and(not is_negative_on_hand) "
        "and min(snapshot_date) < max(snapshot_date) - 4 order by 2 desc, 1 desc limit 3"))
    sale_id = one(platform.warehouse, (
        "select sale_id from staging.base_sales where dt = '2024-07-09' "
        "and discount_pct = 0 order by sale_id limit 1"))[0]
    shipment, line = one(platform.warehouse, (
        "select shipment_id, line_number from staging.base_shipments "
        "where quantity_received > 1 and dt = '2024-07-04' order by 1, 2 limit 1"))
    copy = copy_of(platform, tmp_path, *[
        f"update marts.fct_inventory_snapshots "
        f"set recorded_quantity_on_hand = recorded_quantity_on_hand + 2 "
        f"where store_id = '{store}' and product_id = '{product}' "
        f"and snapshot_date = date '{day}'" for store, product, day in pairs],
        "update marts.fct_daily_sales set net_revenue = net_revenue + 25 "
        "where sale_date = date '2024-07-03' and quantity > 0",
        f"update staging.base_sales set discount_pct = 0.37 where sale_id = {sale_id}",
        f"update staging.base_shipments set quantity_received = quantity_received - 1 "
        f"where shipment_id = {shipment} and line_number = {line}")
    with DuckDBWarehouse(str(copy.warehouse)).session() as warehouse:
        one_pass = reconcile(warehouse, date.fromisoformat(FIRST), date.fromisoformat(LAST),
                             Settings(batch_days=31))
        for batch_days in (1, 4):
            batched = reconcile(warehouse, date.fromisoformat(FIRST),
                                date.fromisoformat(LAST), Settings(batch_days=batch_days))
            assert [c.describe() for c in batched] == [c.describe() for c in one_pass]
    failing = {c.name for c in one_pass if not c.ok}
    assert failing >= {
        "stock: on hand conserved between consecutive counts",
        "money: net revenue from the raw sale lines = fct_daily_sales net revenue, every day",
        "sales: every discount equals the published plan",
        "suppliers: fill rate per supplier = mart_supplier_performance fill rate"}
    stock = {c.name: c for c in one_pass}["stock: on hand conserved between consecutive counts"]
    assert stock.actual <= stock.expected - len(pairs)


# --- history does not slow the day ---------------------------------------------------------

def _kept_totals(copy: Copy, first: str, last: str) -> DeliveryTotals:
    """What a validation of first..last keeps for the next run."""
    with DuckDBWarehouse(str(copy.warehouse)).session() as warehouse:
        _, kept = reconcile_keeping(warehouse, date.fromisoformat(first),
                                    date.fromisoformat(last), Settings(), None)
    return kept


def test_kept_delivery_totals_recompute_only_the_window_and_relanded_days(platform, tmp_path):
    copy = copy_of(platform, tmp_path)
    kept = _kept_totals(copy, FIRST, "2024-07-18")
    shipment_days = sorted(kept.days)
    assert kept.recomputed == shipment_days and len(shipment_days) >= 10
    # A re-landed partition carries a new checksum in its manifest.
    relanded = shipment_days[2]
    copy = copy_of(platform, tmp_path / "relanded",
                   f"update staging.stg_manifests set sha256 = 'feed' "
                   f"where table_name = 'shipments' and partition_dt = '{relanded}'")
    with DuckDBWarehouse(str(copy.warehouse)).session() as warehouse:
        checks, totals = reconcile_keeping(warehouse, date(2024, 7, 13), date.fromisoformat(LAST),
                                           Settings(), kept)
        full = reconcile(warehouse, date(2024, 7, 13), date.fromisoformat(LAST))
    window = [d for d in shipment_days if "2024-07-13" <= d <= LAST]
    assert totals.recomputed == sorted([relanded, *window])
    assert totals.days[relanded] == "feed"
    # Added up from kept totals, the scorecard's checks say exactly what a full pass says.
    def suppliers(found):
        return [c.describe() for c in found if c.name.startswith("suppliers:")]

    assert suppliers(checks) == suppliers(full) and all(c.ok for c in checks)


def test_kept_delivery_totals_that_do_not_parse_are_recomputed():
    for data in (None, b"", b"{", b"[]", b'{"format": 0}', b'{"format": 2, "days": 3}',
                 b'{"format": 2, "measures": [], "days": {}, "suppliers": []}'):
        assert DeliveryTotals.from_json(data).days == {}


def test_a_daily_validation_reads_nothing_before_its_window(platform, tmp_path):
    """Every fact row and ledger file older than the window (and the stock check's lookback)
    is destroyed: with the delivery totals kept by an earlier run, the daily validation
    passes all the same, so it did not read them. The same data without kept totals fails
    (the scorecard is then recomputed from every day): the destruction is real."""
    window_first, lookback = "2024-07-13", 3
    since = "2024-07-10"  # window_first - lookback
    clean = copy_of(platform, tmp_path / "clean")
    kept = _kept_totals(clean, FIRST, "2024-07-12")
    old = f"< '{since}'"
    copy = copy_of(platform, tmp_path,
                   f"delete from staging.base_sales where dt {old}",
                   f"delete from staging.base_inventory where dt {old}",
                   f"delete from staging.base_shipments where dt {old}",
                   f"delete from marts.fct_daily_sales where sale_date {old}",
                   f"delete from marts.fct_inventory_snapshots where snapshot_date {old}")
    ledger = sorted(p for p in (platform.lake / "metadata/defects").glob("dt=*/defects.csv")
                    if p.parent.name[3:] < since)
    # DuckDB sniffs the first file of a glob to bind the columns, whatever the filter: one
    # file, not history. Every other old ledger file is destroyed.
    ledger = ledger[1:]
    assert len(ledger) >= 7
    saved = {path: path.read_bytes() for path in ledger}
    settings = Settings(stock_lookback_days=lookback)
    try:
        for path in ledger:  # a file that no reader can parse
            path.write_text("not,a\nledger\n")
        with DuckDBWarehouse(str(copy.warehouse)).session() as warehouse:
            checks, totals = reconcile_keeping(warehouse, date.fromisoformat(window_first),
                                               date.fromisoformat(LAST), settings, kept)
            assert [c.describe() for c in checks if not c.ok] == []
            assert totals.recomputed == [d for d in sorted(totals.days) if d >= window_first]
            without_kept = reconcile(warehouse, date.fromisoformat(window_first),
                                     date.fromisoformat(LAST), settings)
    finally:
        for path, content in saved.items():
            path.write_bytes(content)
    assert {c.name for c in without_kept if not c.ok} >= {
        "suppliers: shipments per supplier = mart_supplier_performance shipments"}


def test_the_daily_run_keeps_delivery_totals_in_the_lake(platform, tmp_path):
    copy = copy_of(platform, tmp_path)
    message, report = validate(platform, copy, run_date=LAST)
    assert message is None and report["ok"], report["failures"]
    kept = copy.reports / "metadata/validation/supplier_deliveries"
    summary = json.loads((kept / "summary.json").read_text())
    shipment_days = sorted(p.name[3:] for p in
                           (platform.lake / "metadata/manifests/shipments").glob("dt=*"))
    assert sorted(summary["days"]) == shipment_days
    assert sorted(p.name[3:] for p in kept.glob("dt=*")) == shipment_days  # the first run: all
    # The next day's validation adds up the kept sums: a changed kept sum is a failure that
    # names the supplier (the kept totals are really used, not recomputed).
    supplier = summary["suppliers"][0]
    supplier[4] += 1  # lines
    (kept / "summary.json").write_text(json.dumps(summary))
    message, _ = validate(platform, copy, run_date=LAST)
    assert_one_line_naming(message, "suppliers: lines per supplier", f"{supplier[0]}:")
    # A daily run recomputes only new and re-landed days: a kept day's file lost while its
    # partition is unchanged is not needed, and the tampered sum still fails.
    (kept / f"dt={LAST}" / "deliveries.json").unlink()
    message, _ = validate(platform, copy, run_date=LAST)
    assert_one_line_naming(message, "suppliers: lines per supplier", f"{supplier[0]}:")
    # The summary lost: every day is recomputed from the raw lines (and the tampered sum
    # with them), and every day file written again.
    (kept / "summary.json").unlink()
    message, report = validate(platform, copy, run_date=LAST)
    assert message is None and report["ok"], report["failures"]
    assert (kept / f"dt={LAST}" / "deliveries.json").exists()


def _suppliers(found) -> list[str]:
    return [c.describe() for c in found if c.name.startswith("suppliers:")]


def test_a_daily_run_recomputes_the_supplier_totals_of_its_new_day_only(platform, tmp_path):
    # What the run of 07-18 kept: the lake as it was before 07-19 landed.
    before = copy_of(platform, tmp_path / "before",
                     f"delete from staging.stg_manifests where partition_dt = '{LAST}'")
    kept = _kept_totals(before, FIRST, "2024-07-18")
    assert LAST not in kept.days and "2024-07-13" in kept.days
    copy = copy_of(platform, tmp_path / "clean")
    with DuckDBWarehouse(str(copy.warehouse)).session() as warehouse:
        checks, totals, _ = reconcile_daily(warehouse, date(2024, 7, 13),
                                            date.fromisoformat(LAST), Settings(), kept, None,
                                            DayResults(), PRODUCTS)
        full = reconcile(warehouse, date(2024, 7, 13), date.fromisoformat(LAST))
    # The new day alone is read from the raw lines, and the checks say what a full pass says.
    assert totals.recomputed == [LAST]
    assert _suppliers(checks) == _suppliers(full) and all(c.ok for c in checks)
    # A day of the week re-landed since (a new checksum) is read again too.
    relanded = copy_of(platform, tmp_path / "relanded",
                       "update staging.stg_manifests set sha256 = 'feed' "
                       "where table_name = 'shipments' and partition_dt = '2024-07-15'")
    with DuckDBWarehouse(str(relanded.warehouse)).session() as warehouse:
        checks, totals, _ = reconcile_daily(warehouse, date(2024, 7, 13),
                                            date.fromisoformat(LAST), Settings(), kept, None,
                                            DayResults(), PRODUCTS)
    assert totals.recomputed == ["2024-07-15", LAST]
    assert _suppliers(checks) == _suppliers(full)
    # The scorecard is read whole every run: a kept day's delivery counted twice in the mart
    # fails the daily check, naming the supplier.
    supplier = one(platform.warehouse, "select supplier_id from marts.mart_supplier_performance "
                                       "where shipments > 0 order by supplier_id limit 1")[0]
    broken = copy_of(platform, tmp_path / "broken",
                     f"update marts.mart_supplier_performance set shipments = shipments + 1 "
                     f"where supplier_id = '{supplier}'")
    with DuckDBWarehouse(str(broken.warehouse)).session() as warehouse:
        checks, totals, _ = reconcile_daily(warehouse, date(2024, 7, 13),
                                            date.fromisoformat(LAST), Settings(), kept, None,
                                            DayResults(), PRODUCTS)
    assert totals.recomputed == [LAST]
    shipments = {c.name: c for c in checks}[
        "suppliers: shipments per supplier = mart_supplier_performance shipments"]
    assert not shipments.ok and shipments.problems[0].startswith(f"{supplier}:")


# --- kept day results: a daily run reads the new day, not the week --------------------------

PRODUCTS = "sha-of-the-products-file"


def _daily(copy: Copy, first: str, last: str, kept, products: str | None = PRODUCTS,
           **settings):
    """One daily validation of first..last with day results ``kept`` (DayResults)."""
    with DuckDBWarehouse(str(copy.warehouse)).session() as warehouse:
        checks, _, results = reconcile_daily(
            warehouse, date.fromisoformat(first), date.fromisoformat(last),
            Settings(**settings), None, None, kept, products)
    return checks, results


def _describe(checks) -> list[str]:
    return [c.describe() for c in checks]


def test_kept_day_results_read_the_new_day_and_say_what_a_full_pass_says(platform, tmp_path):
    copy = copy_of(platform, tmp_path)
    _, kept = _daily(copy, "2024-07-12", "2024-07-18", DayResults())
    week = [f"2024-07-{d}" for d in range(12, 19)]
    assert kept.recomputed == {"promotions": week, "money": week, "stock": week}
    checks, results = _daily(copy, "2024-07-13", LAST, kept)
    # Only the new day was read by the three families ...
    assert results.recomputed == {"promotions": [LAST], "money": [LAST], "stock": [LAST]}
    # ... and the week's checks say exactly what reading the whole week says.
    with DuckDBWarehouse(str(copy.warehouse)).session() as warehouse:
        full = reconcile(warehouse, date(2024, 7, 13), date.fromisoformat(LAST))
    assert _describe(checks) == _describe(full) and all(c.ok for c in checks)
    stock = {c.name: c for c in checks}["stock: on hand conserved between consecutive counts"]
    assert stock.expected > 0  # the pairs ending on 07-19 (counted on 07-01 too) were read
    # The kept file round-trips; a file that does not parse is nothing kept.
    assert DayResults.from_json(results.to_json()).days == results.days
    for data in (None, b"", b"{", b"[]", b'{"format": 0}', b'{"format": 1, "days": 3}'):
        assert DayResults.from_json(data).days == {}
    # Without the products file's checksum the money check keeps nothing (unit costs unknown).
    _, unkeyed = _daily(copy, "2024-07-13", LAST, DayResults(), products=None)
    assert "money" not in unkeyed.days
    _, again = _daily(copy, "2024-07-13", LAST, unkeyed, products=None)
    assert again.recomputed["money"] == [f"2024-07-{d}" for d in range(13, 20)]


def _kept_clean(platform: Built, tmp_path: Path):
    copy = copy_of(platform, tmp_path / "clean")
    checks, kept = _daily(copy, "2024-07-13", LAST, DayResults())
    assert all(c.ok for c in checks), _describe(checks)
    return kept


def test_a_sales_mart_day_changed_in_or_before_the_week_is_read_again(platform, tmp_path):
    """fct_daily_sales is read once per run for the week (presence, rows, money and the
    week's day fingerprints) and once for the lookback before it: a mart day changed on
    either side changes the fingerprints of the days whose lookback holds it (37 days), and
    a changed day of the week fails the row check naming it."""
    kept = _kept_clean(platform, tmp_path)
    week = [f"2024-07-{d}" for d in range(13, 20)]
    for day, reread in (("2024-07-05", week), ("2024-07-15", week[2:])):
        store, product = one(platform.warehouse, (
            f"select store_id, product_id from marts.fct_daily_sales "
            f"where sale_date = date '{day}' order by 1, 2 limit 1"))
        copy = copy_of(platform, tmp_path / day,
                       f"update marts.fct_daily_sales set quantity = quantity + 1 "
                       f"where sale_date = date '{day}' and store_id = '{store}' "
                       f"and product_id = '{product}'")
        checks, results = _daily(copy, "2024-07-13", LAST, kept)
        assert results.recomputed["stock"] == reread, day
        units = {c.name: c for c in checks}[
            "sales: staged units = fct_daily_sales units, every day"]
        if day in week:
            staged = one(platform.warehouse, "select sum(quantity) from staging.base_sales "
                         f"where dt = '{day}'")[0]
            assert units.problems == (f"{day}: {staged} staged, {staged + 1} in the mart",)
        else:
            assert units.ok, units.describe()


def test_a_kept_day_whose_mart_changed_is_read_again_and_fails(platform, tmp_path):
    kept = _kept_clean(platform, tmp_path)
    store, product = _a_clean_pair(platform)
    # The pair 07-01..07-19 was found clean and kept; then the mart's first count changes
    # (07-01 lies in 07-19's lookback): 07-19 is read again and the pair fails.
    copy = copy_of(platform, tmp_path / "count",
                   f"update marts.fct_inventory_snapshots "
                   f"set recorded_quantity_on_hand = recorded_quantity_on_hand + 2 "
                   f"where store_id = '{store}' and product_id = '{product}' "
                   f"and snapshot_date = date '2024-07-01'")
    checks, results = _daily(copy, "2024-07-13", LAST, kept)
    name = "stock: on hand conserved between consecutive counts"
    # 07-01 is in the lookback of every day of the week: each is read again.
    assert results.recomputed["stock"] == [f"2024-07-{d}" for d in range(13, 20)]
    assert [c.name for c in checks if not c.ok] == [name]
    assert {c.name: c for c in checks}[name].problems[0].startswith(
        f"{store}/{product} 2024-07-01..2024-07-19:")
    # A failing day is not kept: the next run reads it again, and it fails again.
    assert LAST not in results.days["stock"]
    checks, again = _daily(copy, "2024-07-13", LAST, results)
    assert again.recomputed["stock"] == [LAST] and name in [c.name for c in checks if not c.ok]
    # Units sold in the mart between the two counts: the same.
    sold_day = one(platform.warehouse, (
        f"select cast(sale_date as varchar) from marts.fct_daily_sales "
        f"where store_id = '{store}' and product_id = '{product}' and quantity > 0 "
        f"and sale_date between date '2024-07-02' and date '2024-07-18' limit 1"))[0]
    copy = copy_of(platform, tmp_path / "sold",
                   f"update marts.fct_daily_sales set quantity = quantity + 1 "
                   f"where store_id = '{store}' and product_id = '{product}' "
                   f"and sale_date = date '{sold_day}'")
    checks, _ = _daily(copy, "2024-07-13", LAST, kept)
    stock = {c.name: c for c in checks}[name]
    assert not stock.ok and stock.problems[0].startswith(f"{store}/{product} 2024-07-01..")
    # Money's mart side is read every run: a kept day's revenue changed in the mart fails.
    copy = copy_of(platform, tmp_path / "money",
                   "update marts.fct_daily_sales set net_revenue = net_revenue + 25 "
                   "where sale_date = date '2024-07-16' and quantity > 0")
    checks, results = _daily(copy, "2024-07-13", LAST, kept)
    net = "money: net revenue from the raw sale lines = fct_daily_sales net revenue, every day"
    assert results.recomputed["money"] == []
    assert {c.name: c for c in checks}[net].problems[0].startswith("2024-07-16:")


def test_a_kept_day_whose_partition_was_relanded_is_read_again_and_fails(platform, tmp_path):
    kept = _kept_clean(platform, tmp_path)
    # 07-16 re-landed (a new checksum in its manifest) with one sale line at a discount nobody
    # published and one more unit: promotions and money read 07-16 again and fail naming it.
    sale_id, product = one(platform.warehouse, (
        "select sale_id, product_id from staging.base_sales where dt = '2024-07-16' "
        "and discount_pct = 0 order by sale_id limit 1"))
    copy = copy_of(platform, tmp_path / "relanded",
                   "update staging.stg_manifests set sha256 = 'relanded' "
                   "where table_name = 'sales' and partition_dt = '2024-07-16'",
                   f"update staging.base_sales set discount_pct = 0.37, quantity = quantity + 1 "
                   f"where sale_id = {sale_id}")
    checks, results = _daily(copy, "2024-07-13", LAST, kept)
    assert results.recomputed["promotions"] == ["2024-07-16"]
    assert results.recomputed["money"] == ["2024-07-16"]
    # 07-16's sales are in the lookback of every later day's stock pairs.
    assert results.recomputed["stock"] == ["2024-07-16", "2024-07-17", "2024-07-18", LAST]
    found = {c.name: c for c in checks}
    plan = found["sales: every discount equals the published plan"]
    assert not plan.ok and plan.problems[0].startswith(f"2024-07-16 {product}: 1 line(s) "
                                                       f"sold at 0.37")
    cost = found["money: cost from the raw sale lines = fct_daily_sales cost, every day"]
    assert not cost.ok and cost.problems[0].startswith("2024-07-16:")
    # The same checks without kept results: the same verdicts.
    with DuckDBWarehouse(str(copy.warehouse)).session() as warehouse:
        full = reconcile(warehouse, date(2024, 7, 13), date.fromisoformat(LAST))
    assert _describe(checks) == _describe(full)


def _with_products_file(platform: Built, copy: Copy) -> Copy:
    """The copy's lake with the products file the money check's key is the checksum of."""
    (copy.reports / "raw/products").mkdir(parents=True, exist_ok=True)
    shutil.copy(platform.lake / "raw/products/products.csv", copy.reports / "raw/products")
    return copy


def test_the_daily_run_keeps_day_results_in_the_lake(platform, tmp_path):
    copy = _with_products_file(platform, copy_of(platform, tmp_path))
    message, report = validate(platform, copy, run_date=LAST)
    assert message is None and report["ok"], report["failures"]
    kept = DayResults.from_json(
        (copy.reports / "metadata/validation/day_results.json").read_bytes())
    week = [f"2024-07-{d}" for d in range(13, 20)]
    assert sorted(kept.days["money"]) == week and sorted(kept.days["stock"]) == week
    # The next daily run uses them: a kept day's mart broken since is read again and named.
    copy2 = _with_products_file(platform, copy_of(
        platform, tmp_path / "broken", "update marts.fct_daily_sales set net_revenue = "
        "net_revenue + 25 where sale_date = date '2024-07-18' and quantity > 0"))
    (copy2.reports / "metadata/validation").mkdir(parents=True)
    shutil.copy(copy.reports / "metadata/validation/day_results.json",
                copy2.reports / "metadata/validation/day_results.json")
    message, _ = validate(platform, copy2, run_date=LAST)
    assert_one_line_naming(message, "money: net revenue from the raw sale lines", "2024-07-18:")
    # The kept raw side is what the next run adds up (really used, not recomputed): a kept
    # day's net revenue changed in the file makes that day disagree with the mart.
    kept_file = copy.reports / "metadata/validation/day_results.json"
    document = json.loads(kept_file.read_text())
    document["days"]["money"]["2024-07-15"][1][0] += 100.0
    kept_file.write_text(json.dumps(document))
    message, _ = validate(platform, copy, run_date=LAST)
    assert_one_line_naming(message, "money: net revenue from the raw sale lines", "2024-07-15:")
    # A backfill reads its whole window and keeps nothing.
    (copy.reports / "metadata/validation/day_results.json").unlink()
    message, report = validate(platform, copy, start_date="2024-07-13", end_date=LAST)
    assert message is None and report["ok"]
    assert not (copy.reports / "metadata/validation/day_results.json").exists()
