"""The platform as the scheduler runs it: ingest -> transform (dbt) -> validate, locally.

dbt really builds the models on DuckDB here; the numbers are checked against the raw files.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import pytest

from retailops.lake.partitions import commit_partition
from retailops.lake.storage import Lake
from retailops.simulation import RAW_COLUMNS
from tests.conftest import conf_with_lake, run_kedro

SCALE = "scale=0.03"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """Five days landed, transformed and validated by `kedro run --pipelines daily`-style runs."""
    tmp = tmp_path_factory.mktemp("platform")
    lake = tmp / "lake"
    conf = conf_with_lake(tmp, str(lake))
    result = run_kedro("run", "--pipelines", "ingest,transform,validate", "--conf-source", str(conf),
                       "--params", f"start_date=2024-07-01,end_date=2024-07-05,{SCALE}")
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    return tmp, conf, lake


def _warehouse(tmp: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(tmp / "warehouse" / "retailops.duckdb"), read_only=True)


def _daily_totals(tmp: Path) -> dict[str, tuple]:
    with _warehouse(tmp) as con:
        rows = con.execute("select cast(sale_date as varchar), sum(transactions), sum(quantity), "
                           "round(sum(net_revenue), 2) from marts.fct_daily_sales group by 1 "
                           "order by 1").fetchall()
    return {r[0]: r[1:] for r in rows}


def _raw_sales_totals(lake: Path) -> dict[str, tuple]:
    rows = duckdb.execute(
        f"select dt, count(*), sum(quantity), round(sum(quantity * unit_price * "
        f"(1 - coalesce(discount_pct, 0))), 2) from read_csv('{lake}/raw/sales/*/sales.csv', "
        f"hive_partitioning=false, types={{'dt': 'VARCHAR'}}) group by 1 order by 1").fetchall()
    return {r[0]: r[1:] for r in rows}


def test_marts_agree_with_the_raw_sale_lines(platform):
    tmp, _, lake = platform
    mart, raw = _daily_totals(tmp), _raw_sales_totals(lake)
    assert set(mart) == set(raw) == {f"2024-07-0{d}" for d in range(1, 6)}
    for day in raw:
        assert mart[day][:2] == raw[day][:2]
        assert mart[day][2] == pytest.approx(raw[day][2], abs=0.05)


def test_run_report_reconciles_and_names_the_dbt_tests(platform):
    _, _, lake = platform
    report = json.loads((lake / "metadata/runs/validation/latest.json").read_text())
    assert report["ok"] is True and report["failed_checks"] == []
    assert report["window"] == {"first": "2024-07-01", "last": "2024-07-05"}
    names = {c["name"] for c in report["checks"]}
    assert any(n.startswith("shipments: raw lines - staged lines") for n in names)
    # One row_rules test per model (12 on a full build without the forecast source) plus the
    # landing test and the grain tests of the dimensions: at least 14 since issue 13 merged them.
    assert report["dbt"]["tests_passed"] >= 14 and report["dbt"]["failed_tests"] == []
    summary = json.loads((lake / "metadata/dbt/build_summary.json").read_text())
    assert {m["name"] for m in summary["models"]} >= {
        "stg_sales", "fct_daily_sales", "fct_inventory_snapshots", "mart_supplier_performance"}


def test_daily_run_adds_only_its_day_and_rerunning_it_changes_nothing(platform):
    tmp, conf, lake = platform
    before = _daily_totals(tmp)
    result = run_kedro("run", "--pipelines", "daily", "--conf-source", str(conf),
                       "--params", f"run_date=2024-07-06,{SCALE}")
    assert result.returncode == 0, result.stderr[-3000:]
    after = _daily_totals(tmp)
    assert {k: v for k, v in after.items() if k != "2024-07-06"} == before
    assert after["2024-07-06"][:2] == _raw_sales_totals(lake)["2024-07-06"][:2]
    report = json.loads((lake / "metadata/runs/validation/latest.json").read_text())
    # A daily run validates its week, cut at the first landed day: max(07-01, 07-06 - 6)..07-06.
    assert report["window"] == {"first": "2024-07-01", "last": "2024-07-06"} and report["ok"]

    again = run_kedro("run", "--pipelines", "daily", "--conf-source", str(conf),
                      "--params", f"run_date=2024-07-06,{SCALE}")
    assert again.returncode == 0, again.stderr[-3000:]
    assert _daily_totals(tmp) == after


def test_a_failing_data_test_fails_the_run_naming_the_test(platform, tmp_path):
    import shutil

    tmp, _, lake = platform
    broken_lake = tmp_path / "lake"
    shutil.copytree(lake, broken_lake)
    conf = conf_with_lake(tmp_path, str(broken_lake))
    path = broken_lake / "raw/sales/dt=2024-07-03/sales.csv"
    rows = list(csv.reader(io.StringIO(path.read_text())))
    rows[1][4] = "-3"  # a sale line selling a negative quantity
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    commit_partition(Lake(str(broken_lake)), "sales", __import__("datetime").date(2024, 7, 3),
                     out.getvalue().encode(), len(rows) - 1, RAW_COLUMNS["sales"], "test",
                     overwrite=True)
    result = run_kedro("run", "--pipelines", "transform", "--conf-source", str(conf))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("retailops: error: dbt build failed:")
    # The test is named, and so is the rule its failing row breaks, with the row count.
    assert "stg_sales_rules (" in lines[0] and "data test(s) failed" in lines[0]
    assert "quantity" in lines[0].split("stg_sales_rules (", 1)[1] and "1 row" in lines[0]
    summary = json.loads((broken_lake / "metadata/dbt/build_summary.json").read_text())
    assert summary["success"] is False and summary["failed_tests"]


def test_a_ledger_mismatch_fails_validation_in_one_line(platform, tmp_path):
    # The ledger is read by the transform (stg_defects is a table on DuckDB, rebuilt for the
    # days a run rebuilds; a window without run_date rebuilds every day): the mismatch is made
    # in a copy of the lake, then that lake is transformed and validated.
    import shutil

    _, _, built = platform
    lake = tmp_path / "lake"
    shutil.copytree(built, lake)
    conf = conf_with_lake(tmp_path, str(lake))
    ledger = lake / "metadata/defects/dt=2024-07-02/defects.csv"
    with ledger.open("a") as handle:
        handle.write('"2024-07-02","sales","null_discount","202407029999999",'
                     '"discount_pct",,"0.1"\n')
    result = run_kedro("run", "--pipelines", "transform,validate", "--conf-source", str(conf),
                       "--params", f"start_date=2024-07-01,end_date=2024-07-05,{SCALE}")
    report = json.loads((lake / "metadata/runs/validation/latest.json").read_text())
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "validation failed for 2024-07-01..2024-07-05" in lines[0]
    assert "null_discount" in lines[0]
    assert not report["ok"] and len(report["failed_checks"]) == 2


@pytest.mark.parametrize("damage, message", [
    (lambda data: data.replace(b"ST0", b"ST9", 1), "does not match its manifest (sha256)"),
    # A truncated file is caught by its size, before any byte is read.
    (lambda data: data[: len(data) // 2], "bytes but its manifest records"),
])
def test_a_corrupt_partition_stops_the_transform_naming_the_file(platform, damage, message):
    tmp, conf, lake = platform
    path = lake / "raw/sales/dt=2024-07-04/sales.csv"
    original = path.read_bytes()
    try:
        path.write_bytes(damage(original))
        result = run_kedro("run", "--pipelines", "transform", "--conf-source", str(conf))
    finally:
        path.write_bytes(original)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"retailops: error: partition {path} "), \
        result.stderr
    assert message in lines[0]


def test_a_drifted_header_stops_the_transform_naming_the_columns(platform):
    tmp, conf, lake = platform
    day = __import__("datetime").date(2024, 7, 4)
    path = lake / "raw/inventory/dt=2024-07-04/inventory.csv"
    manifest = lake / "metadata/manifests/inventory/dt=2024-07-04/manifest.json"
    original, original_manifest = path.read_bytes(), manifest.read_bytes()
    try:
        drifted = original.replace(b'"quantity_on_hand"', b'"qty_on_hand"', 1)
        manifest.unlink()  # re-landed by a producer that renamed a column
        commit_partition(Lake(str(lake)), "inventory", day, drifted, drifted.count(b"\n") - 1,
                         RAW_COLUMNS["inventory"], "drifted-producer")
        result = run_kedro("run", "--pipelines", "transform", "--conf-source", str(conf))
    finally:
        path.write_bytes(original)
        manifest.write_bytes(original_manifest)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "drifted columns" in lines[0]
    assert "qty_on_hand" in lines[0]
