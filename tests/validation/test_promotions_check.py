"""The validate stage's promotion check: sales follow the published plan, and a week without
its plan is named.

Nine simulated days (two weeks, two publications) landed by the ingest's landing code and
built by a real in-process dbt build on DuckDB; each test breaks one thing (a sale line's
discount, a row of the plan file, a publication's manifest) and runs the checks. The expected
lines and names come from the raw CSV files or from the break, never from the check.
"""

from __future__ import annotations

import csv
import shutil
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dbt"))
from dbt_harness import failures, land_lake, new_project  # noqa: E402

from retailops.validation import Window, reconcile  # noqa: E402
from retailops.validation.promotions import promotion_checks  # noqa: E402
from retailops.warehouse.engines import DuckDBWarehouse  # noqa: E402

FIRST, LAST = date(2024, 7, 1), date(2024, 7, 9)
WINDOW = Window(FIRST, LAST)
PLAN = "Check: sales: every discount equals the published plan"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("promotion_check")
    lake = land_lake(tmp / "lake", LAST, scale=0.02)
    project = new_project(tmp, lake)
    result = project.invoke("run", env={"RETAILOPS_REBUILD_DAYS": "all"})
    assert result.success, failures(result)
    return lake, project.duckdb_path


@pytest.fixture
def copy(built, tmp_path) -> tuple[Path, Path]:
    """A private lake and warehouse, which a test may break."""
    lake, warehouse = built
    shutil.copytree(lake, tmp_path / "lake")
    shutil.copy(warehouse, tmp_path / "retailops.duckdb")
    # The staging views read the lake they were built over: point them at the copy.
    with duckdb.connect(str(tmp_path / "retailops.duckdb")) as con:
        (sql,) = con.execute("select sql from duckdb_views() where view_name = 'stg_promotions'"
                             ).fetchone()
        con.execute(sql.replace(str(lake), str(tmp_path / "lake"))
                    .replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))
    return tmp_path / "lake", tmp_path / "retailops.duckdb"


def checks(warehouse: Path) -> dict[str, object]:
    return {c.name: c for c in promotion_checks(DuckDBWarehouse(str(warehouse)), WINDOW)}


def test_the_clean_sales_follow_the_plan(built):
    lake, warehouse = built
    found = checks(warehouse)
    assert [c.ok for c in found.values()] == [True, True], [c.describe() for c in found.values()]
    assert found["sales: every discount equals the published plan"].actual == 0
    # ...and the check is part of the validate stage's reconciliation.
    names = [c.name for c in reconcile(DuckDBWarehouse(str(warehouse)), FIRST, LAST)]
    assert "sales: every discount equals the published plan" in names
    assert "promotions: every week of the window has its published plan" in names
    # The clean data has ledgered blank discounts, which the check leaves out.
    blanks = [r for d in range(1, 10) for r in _rows(
        lake / f"metadata/defects/dt=2024-07-0{d}/defects.csv")
        if r["defect_type"] == "null_discount"]
    assert blanks


def test_a_sale_with_a_discount_not_in_the_plan_fails(copy):
    lake, warehouse = copy
    sales = _rows(lake / "raw/sales/dt=2024-07-03/sales.csv")
    plan = {r["product_id"] for r in _rows(lake / "raw/promotions/dt=2024-07-01/promotions.csv")
            if r["start_date"] == "2024-07-01"}
    victim = next(s for s in sales if s["product_id"] not in plan and s["discount_pct"] == "0")
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"update staging.base_sales set discount_pct = 0.33 "
                    f"where sale_id = {victim['sale_id']}")
    check = checks(warehouse)["sales: every discount equals the published plan"]
    assert not check.ok and check.actual == 1
    assert check.problems == (f"2024-07-03 {victim['product_id']}: 1 line(s) sold at 0.33, "
                              f"not in the plan",)


def test_a_plan_missing_a_promoted_product_fails(copy):
    lake, warehouse = copy
    path = lake / "raw/promotions/dt=2024-07-01/promotions.csv"
    lines = path.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    week_one = [r for r in _rows(path) if r["start_date"] == "2024-07-01"]
    # The promoted product of week one with the most sale lines, dropped from its plan.
    counts = {}
    for d in range(1, 8):
        for sale in _rows(lake / f"raw/sales/dt=2024-07-0{d}/sales.csv"):
            if sale["discount_pct"] not in ("", "0"):
                counts[sale["product_id"]] = counts.get(sale["product_id"], 0) + 1
    dropped = max((r for r in week_one if r["product_id"] in counts),
                  key=lambda r: counts[r["product_id"]])
    kept = [line for line, row in zip(rows, _rows(path))
            if not (row["product_id"] == dropped["product_id"]
                    and row["start_date"] == "2024-07-01")]
    path.write_text("\n".join([header, *kept]) + "\n")

    check = checks(warehouse)["sales: every discount equals the published plan"]
    assert not check.ok
    assert check.actual == counts[dropped["product_id"]]
    assert all(dropped["product_id"] in p and "not in the plan" in p for p in check.problems
               if not p.startswith("and "))


def test_a_week_whose_plan_was_never_published_is_named(copy):
    _, warehouse = copy
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from staging.stg_manifests "
                    "where table_name = 'promotions' and partition_dt = '2024-07-08'")
    found = checks(warehouse)
    weeks = found["promotions: every week of the window has its published plan"]
    assert not weeks.ok and (weeks.expected, weeks.actual) == (2, 1)
    assert weeks.problems == ("no plan published for the week of 2024-07-08",)
    # The other week's sales are still checked, and follow their plan.
    assert found["sales: every discount equals the published plan"].ok


def test_a_blank_discount_is_excused_only_by_its_own_ledger_key(copy):
    """A ledgered blank discount is left out of the comparison by the key the ledger wrote,
    the sale line's id in plain digits; the same number written another way ('0' in front) is
    another key and excuses nothing (the lines are matched by number, not by text)."""
    lake, warehouse = copy
    blank = next(r for r in _rows(lake / "metadata/defects/dt=2024-07-03/defects.csv")
                 if r["defect_type"] == "null_discount")
    sale = next(s for s in _rows(lake / "raw/sales/dt=2024-07-03/sales.csv")
                if s["sale_id"] == blank["record_key"])
    assert sale["discount_pct"] == ""
    # The line now carries a discount nobody published, but it is the ledger's blank line.
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"update staging.base_sales set discount_pct = 0.33 "
                    f"where sale_id = {sale['sale_id']}")
    assert checks(warehouse)["sales: every discount equals the published plan"].ok
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"update staging.stg_defects set record_key = '0' || record_key "
                    f"where defect_type = 'null_discount' "
                    f"and record_key = '{blank['record_key']}'")
    check = checks(warehouse)["sales: every discount equals the published plan"]
    assert not check.ok and check.actual == 1
    assert check.problems[0].startswith(f"2024-07-03 {sale['product_id']}: 1 line(s) sold at "
                                        f"0.33"), check.problems
